import { createServer, type IncomingMessage, type Server } from "node:http"
import { connect as tcpConnect, type Socket } from "node:net"
import type { Authority } from "./ca.ts"
import type { ProxyGateway } from "./gateway.ts"
import { interceptor, type Target } from "./intercept.ts"
import { parseHostRule, parseTarget, PROVIDER_HOSTS, tunnelPolicy } from "./policy.ts"

/**
 * Hosts whose traffic the proxy reads (TLS terminated with a minted certificate): Copilot's chat APIs, the Gemini
 * APIs Antigravity uses, OpenAI's and Anthropic's. The CA is name-constrained to these; everything else is tunnelled.
 */
export const INTERCEPTED_HOSTS = [
  "githubcopilot.com",
  "generativelanguage.googleapis.com",
  "cloudcode-pa.googleapis.com",
  // Code Assist's daily channel, which Antigravity and gemini-cli builds are reported to call.
  "daily-cloudcode-pa.googleapis.com",
  "api.openai.com",
  "api.anthropic.com"
]

export interface ProxyOptions {
  readonly port: number
  readonly authority: Authority
  /** Hosts (and their subdomains) to intercept. */
  readonly intercept?: ReadonlyArray<string>
  /** CA certificates trusted for the original hosts (default: the system's). Tests pass their own: never "insecure". */
  readonly upstreamCa?: string | ReadonlyArray<string>
  /** Where a host:port really is (tests point names at loopback servers); its addresses are checked all the same. */
  readonly resolve?: (host: string, port: number) => { readonly host: string; readonly port: number }
  /** proxy.allow_hosts: `host` or `host:port` entries it tunnels to besides the providers', inside addresses too. */
  readonly allowHosts?: ReadonlyArray<string>
  /** The providers' hosts it tunnels to (`host:port`): PROVIDER_HOSTS, and the configured providers' URLs. */
  readonly providerHosts?: ReadonlyArray<string>
  /** A name's addresses (the system's resolver; tests answer for it so nothing leaves loopback). */
  readonly lookup?: (host: string) => Promise<ReadonlyArray<string>>
  readonly log?: (line: string) => void
  /** Answers intercepted chat requests through the gateway; without it they go to the host as they are. */
  readonly gateway?: ProxyGateway
}

export interface RunningProxy {
  readonly url: string
  readonly port: number
  readonly close: () => Promise<void>
}

export const intercepts = (hosts: ReadonlyArray<string>, host: string) =>
  hosts.some((listed) => host === listed || host.endsWith(`.${listed}`))

/** The hosts of `wanted` the CA may vouch for (a CA without name constraints: all of them). */
export const coveredBy = (authority: Pick<Authority, "hosts">, wanted: ReadonlyArray<string>) =>
  wanted.filter((host) => authority.hosts === undefined || intercepts(authority.hosts, host))

/** The rules of a host list, or an error naming the entries that are not `host` or `host:port`. */
const rulesOf = (entries: ReadonlyArray<string>, setting: string) => {
  const invalid = entries.filter((entry) => parseHostRule(entry) === undefined)
  if (invalid.length > 0) throw new Error(`${setting}: not a host or host:port: ${invalid.join(", ")}`)
  return entries.map((entry) => parseHostRule(entry)!)
}

/** A response that ends the client's connection: the refusal of a CONNECT, with why in its body. */
const refuse = (client: Socket, status: string, why: string) => {
  const body = `isartor proxy: ${why}\n`
  client.end(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`
  )
}

/** Bytes both ways between the client and a host the proxy does not read. */
const tunnel =
  (track: (socket: Socket) => void, log: (line: string) => void) => (client: Socket, target: Target, head: Buffer) => {
    const server = tcpConnect(target.where.port, target.where.host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      if (head.length > 0) server.write(head)
      server.pipe(client)
      client.pipe(server)
    })
    track(server)
    server.on("error", (error) => {
      log(`${target.host}:${target.port}: ${error.message}`)
      if (client.writable) refuse(client, "502 Bad Gateway", `${target.host}:${target.port}: ${error.message}`)
    })
    client.on("error", () => server.destroy())
    client.on("close", () => server.destroy())
  }

/** One line per refused host:port, however often a tool retries it (bounded: a scan cannot grow it without end). */
const onceEach = (log: (line: string) => void) => {
  const logged = new Set<string>()
  return (key: string, reason: string) => {
    if (logged.has(key) || logged.size >= 1024) return
    logged.add(key)
    log(reason)
  }
}

/** The sockets the proxy holds, each until it closes: ended all at once when the proxy stops. */
const socketSet = () => {
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  }
  return { track, destroyAll: () => sockets.forEach((socket) => socket.destroy()) }
}

interface ConnectHandling {
  readonly policy: ReturnType<typeof tunnelPolicy>
  readonly resolve: NonNullable<ProxyOptions["resolve"]>
  readonly intercept: ReadonlyArray<string>
  readonly log: (line: string) => void
  readonly terminate: (client: Socket, target: Target, head: Buffer) => void
  readonly tunnel: (client: Socket, target: Target, head: Buffer) => void
  readonly track: (socket: Socket) => void
}

/** A CONNECT: the host judged (refused, unreachable), then read or tunnelled. */
const onConnect = (handling: ConnectHandling) => {
  const logRefusal = onceEach(handling.log)
  return (request: IncomingMessage, client: Socket, head: Buffer) => {
    handling.track(client)
    // The HTTP server no longer listens for its errors: a client gone while its host is judged is only gone.
    client.on("error", () => client.destroy())
    const asked = parseTarget(request.url ?? "")
    if (!asked) return refuse(client, "400 Bad Request", "CONNECT takes host:port")
    // Until the host is judged: what the client sends meanwhile waits in the socket, and goes on with `head`.
    client.pause()
    handling.policy.decide(asked, handling.resolve(asked.host, asked.port)).then((decision) => {
      if (client.destroyed) return
      if (decision.kind === "refused") {
        logRefusal(`${asked.host}:${asked.port}`, decision.reason)
        return refuse(client, "403 Forbidden", decision.reason)
      }
      if (decision.kind === "unreachable") {
        handling.log(decision.reason)
        return refuse(client, "502 Bad Gateway", decision.reason)
      }
      const early = client.read() as Buffer | null
      const first = early === null ? head : Buffer.concat([head, early])
      client.resume()
      const target = { ...asked, where: { host: decision.host, port: decision.port } }
      const read = handling.intercept.length > 0 && intercepts(handling.intercept, asked.host)
      ;(read ? handling.terminate : handling.tunnel)(client, target, first)
    }).catch((error: Error) => {
      handling.log(`${asked.host}:${asked.port}: ${error.message}`)
      client.destroy()
    })
  }
}

const listening = (server: Server, port: number) =>
  new Promise<number>((resolveListen, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolveListen((server.address() as { port: number }).port))
  })

/**
 * The local CONNECT proxy: a listed host's TLS is terminated with a certificate from the local CA and each HTTP
 * request is answered by the gateway or sent on to the original host (its TLS verified) with the client's own
 * headers and credentials; the providers' other hosts and proxy.allow_hosts are tunnelled byte for byte, unread, and
 * anything else is refused (tunnelPolicy). Listens on 127.0.0.1 only.
 */
export const startProxy = async (options: ProxyOptions): Promise<RunningProxy> => {
  const log = options.log ?? (() => {})
  const sockets = socketSet()
  const reader = interceptor({ ...options, log, track: sockets.track })
  const outer: Server = createServer((_request, response) => {
    response.writeHead(405, { "content-type": "text/plain" })
    response.end("isartor proxy: only CONNECT (HTTPS) is proxied\n")
  })
  outer.on(
    "connect",
    onConnect({
      policy: tunnelPolicy({
        allowHosts: rulesOf(options.allowHosts ?? [], "proxy.allow_hosts"),
        providerHosts: rulesOf(options.providerHosts ?? PROVIDER_HOSTS, "the providers' hosts"),
        providerDomains: options.intercept ?? INTERCEPTED_HOSTS,
        lookup: options.lookup
      }),
      resolve: options.resolve ?? ((host, port) => ({ host, port })),
      // Only names the CA may vouch for: a CA made before a host joined the list has that host tunnelled, unread.
      intercept: coveredBy(options.authority, options.intercept ?? INTERCEPTED_HOSTS),
      log,
      terminate: reader.terminate,
      tunnel: tunnel(sockets.track, log),
      track: sockets.track
    })
  )
  outer.on("connection", sockets.track)
  const port = await listening(outer, options.port)
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        sockets.destroyAll()
        reader.close()
        outer.close(() => resolveClose())
      })
  }
}
