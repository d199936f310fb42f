import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { request as httpsRequest } from "node:https"
import { connect as tcpConnect, type Socket } from "node:net"
import { connect as tlsConnect, createSecureContext, type SecureContext, TLSSocket } from "node:tls"
import { type Authority, leafMinter } from "./ca.ts"
import { isChatRequest, type ProxyGateway, sendResponse } from "./gateway.ts"
import { CONNECTION_HEADERS } from "./hostRequest.ts"
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

/**
 * The local CONNECT proxy: a listed host's TLS is terminated with a certificate from the local CA and each HTTP
 * request is sent on to the original host (its TLS verified) with the client's own headers and credentials; the
 * providers' other hosts and proxy.allow_hosts are tunnelled byte for byte, unread, and anything else is refused
 * (tunnelPolicy). Listens on 127.0.0.1 only.
 */
export const startProxy = async (options: ProxyOptions): Promise<RunningProxy> => {
  // Only names the CA may vouch for: a CA made before a host joined the list has that host tunnelled, unread.
  const intercept = coveredBy(options.authority, options.intercept ?? INTERCEPTED_HOSTS)
  const resolve = options.resolve ?? ((host: string, port: number) => ({ host, port }))
  const log = options.log ?? (() => {})
  const policy = tunnelPolicy({
    allowHosts: rulesOf(options.allowHosts ?? [], "proxy.allow_hosts"),
    providerHosts: rulesOf(options.providerHosts ?? PROVIDER_HOSTS, "the providers' hosts"),
    providerDomains: options.intercept ?? INTERCEPTED_HOSTS,
    lookup: options.lookup
  })
  // One line per refused host:port, however often a tool retries it (bounded: a scan cannot grow it without end).
  const refusalsLogged = new Set<string>()
  const logRefusal = (key: string, reason: string) => {
    if (refusalsLogged.has(key) || refusalsLogged.size >= 1024) return
    refusalsLogged.add(key)
    log(reason)
  }
  const mint = leafMinter(options.authority)
  const contexts = new Map<string, SecureContext>()
  const contextFor = (host: string) => {
    let context = contexts.get(host)
    if (!context) {
      const leaf = mint(host)
      context = createSecureContext({ cert: leaf.cert, key: leaf.key })
      contexts.set(host, context)
    }
    return context
  }
  /** Each intercepted connection's host, and the address checked for it at CONNECT, which every request dials. */
  const targets = new WeakMap<Socket, { host: string; port: number; where: { host: string; port: number } }>()
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  }

  /** A request sent on to the original host as it came; `body` when it has been read already. */
  const passOn = (
    request: IncomingMessage,
    response: ServerResponse,
    target: { host: string; port: number; where: { host: string; port: number } },
    body?: Buffer
  ) => {
    const where = target.where
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase()))
    )
    const upstream = httpsRequest({
      host: where.host,
      port: where.port,
      servername: target.host,
      method: request.method,
      path: request.url,
      headers,
      ...(options.upstreamCa === undefined ? {} : { ca: options.upstreamCa as string | Array<string> })
    }, (answer) => {
      const answerHeaders = Object.fromEntries(
        Object.entries(answer.headers).filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase()))
      )
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answerHeaders)
      answer.pipe(response)
    })
    upstream.on("error", (error) => {
      log(`${target.host}: ${error.message}`)
      if (!response.headersSent) {
        response.writeHead(502, { "content-type": "application/json" })
        response.end(JSON.stringify({ error: { message: `isartor proxy: ${target.host}: ${error.message}` } }))
      } else response.destroy(error)
    })
    if (body === undefined) request.pipe(upstream)
    else upstream.end(body)
  }

  /** One request read from an intercepted connection: a chat request to the pipeline, anything else to the host. */
  const forward = (request: IncomingMessage, response: ServerResponse) => {
    const target = targets.get(request.socket)!
    const where = target.where
    const chat = options.gateway
    if (!chat || !isChatRequest(request.method, request.url)) return passOn(request, response, target)
    // A body larger than the gateway takes (max_body_bytes) goes to the host as it streams in, never held here.
    if (Number(request.headers["content-length"] ?? 0) > chat.maxBodyBytes) return passOn(request, response, target)
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks)
      const origin = { host: target.host, port: target.port, connectHost: where.host, connectPort: where.port }
      chat.answer(request, body, origin).then((answer) =>
        // The gateway refused it without asking the host (a shape it does not take): the host decides instead.
        answer === undefined ? passOn(request, response, target, body) : sendResponse(answer, response)
      ).catch((error: Error) => {
        log(`${target.host}: ${error.message}`)
        if (!response.headersSent) response.writeHead(502, { "content-type": "application/json" })
        response.end(JSON.stringify({ error: { message: `isartor proxy: ${error.message}` } }))
      })
    })
  }
  const inner = createServer(forward)
  // An upgrade (a WebSocket) on a listed host goes to the host as it came, and its bytes flow both ways unread.
  inner.on("upgrade", (request: IncomingMessage, client: Socket, head: Buffer) => {
    const target = targets.get(request.socket)!
    const where = target.where
    const upstream = tlsConnect({
      host: where.host,
      port: where.port,
      servername: target.host,
      ...(options.upstreamCa === undefined ? {} : { ca: options.upstreamCa as string | Array<string> })
    }, () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`]
      for (let i = 0; i < request.rawHeaders.length; i += 2) {
        lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
      }
      upstream.write(lines.join("\r\n") + "\r\n\r\n")
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    track(upstream)
    upstream.on("error", (error) => {
      log(`${target.host}: ${error.message}`)
      client.destroy()
    })
    client.on("error", () => upstream.destroy())
    client.on("close", () => upstream.destroy())
  })

  const tunnel = (client: Socket, host: string, port: number, where: { host: string; port: number }, head: Buffer) => {
    const server = tcpConnect(where.port, where.host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
      if (head.length > 0) server.write(head)
      server.pipe(client)
      client.pipe(server)
    })
    track(server)
    server.on("error", (error) => {
      log(`${host}:${port}: ${error.message}`)
      if (client.writable) refuse(client, "502 Bad Gateway", `${host}:${port}: ${error.message}`)
    })
    client.on("error", () => server.destroy())
    client.on("close", () => server.destroy())
  }

  const terminate = (
    client: Socket,
    host: string,
    port: number,
    where: { host: string; port: number },
    head: Buffer
  ) => {
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
    if (head.length > 0) client.unshift(head)
    const secure = new TLSSocket(client, {
      isServer: true,
      secureContext: contextFor(host),
      ALPNProtocols: ["http/1.1"]
    })
    track(secure)
    targets.set(secure, { host, port, where })
    secure.on("error", (error) => log(`${host}: client TLS: ${error.message}`))
    inner.emit("connection", secure)
  }

  const outer: Server = createServer((request, response) => {
    response.writeHead(405, { "content-type": "text/plain" })
    response.end("isartor proxy: only CONNECT (HTTPS) is proxied\n")
  })
  outer.on("connect", (request: IncomingMessage, client: Socket, head: Buffer) => {
    track(client)
    // The HTTP server no longer listens for its errors: a client gone while its host is judged is only gone.
    client.on("error", () => client.destroy())
    const target = parseTarget(request.url ?? "")
    if (!target) return refuse(client, "400 Bad Request", "CONNECT takes host:port")
    // Until the host is judged: what the client sends meanwhile waits in the socket, and goes on with `head`.
    client.pause()
    policy.decide(target, resolve(target.host, target.port)).then((decision) => {
      if (client.destroyed) return
      if (decision.kind === "refused") {
        logRefusal(`${target.host}:${target.port}`, decision.reason)
        return refuse(client, "403 Forbidden", decision.reason)
      }
      if (decision.kind === "unreachable") {
        log(decision.reason)
        return refuse(client, "502 Bad Gateway", decision.reason)
      }
      const early = client.read() as Buffer | null
      const first = early === null ? head : Buffer.concat([head, early])
      client.resume()
      const where = { host: decision.host, port: decision.port }
      if (intercept.length > 0 && intercepts(intercept, target.host)) {
        terminate(client, target.host, target.port, where, first)
      } else tunnel(client, target.host, target.port, where, first)
    }).catch((error: Error) => {
      log(`${target.host}:${target.port}: ${error.message}`)
      client.destroy()
    })
  })
  outer.on("connection", track)
  await new Promise<void>((resolveListen, reject) => {
    outer.once("error", reject)
    outer.listen(options.port, "127.0.0.1", () => resolveListen())
  })
  const port = (outer.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const socket of sockets) socket.destroy()
        inner.close()
        outer.close(() => resolveClose())
      })
  }
}
