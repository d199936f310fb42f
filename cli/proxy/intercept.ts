import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { request as httpsRequest } from "node:https"
import type { Socket } from "node:net"
import { connect as tlsConnect, createSecureContext, type SecureContext, TLSSocket } from "node:tls"
import { type Authority, leafMinter } from "./ca.ts"
import { isChatRequest, type ProxyGateway, sendResponse } from "./gateway.ts"
import { CONNECTION_HEADERS } from "./hostRequest.ts"

/** A CONNECT's host as the client named it, and the address checked for it, which every request then dials. */
export interface Target {
  readonly host: string
  readonly port: number
  readonly where: { readonly host: string; readonly port: number }
}

export interface InterceptOptions {
  readonly authority: Authority
  /** CA certificates trusted for the original hosts (default: the system's). */
  readonly upstreamCa?: string | ReadonlyArray<string> | undefined
  readonly log: (line: string) => void
  /** Answers intercepted chat requests; without it they go to the host as they are. */
  readonly gateway?: ProxyGateway | undefined
  /** Keeps a socket until it closes, for the proxy to end them all when it stops. */
  readonly track: (socket: Socket) => void
}

const trusting = (upstreamCa: InterceptOptions["upstreamCa"]) =>
  upstreamCa === undefined ? {} : { ca: upstreamCa as string | Array<string> }

const withoutConnectionHeaders = (headers: IncomingMessage["headers"]) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase())))

/** The server certificate for each host, minted from the local CA once and kept. */
const secureContexts = (authority: Authority) => {
  const mint = leafMinter(authority)
  const contexts = new Map<string, SecureContext>()
  return (host: string) => {
    let context = contexts.get(host)
    if (!context) {
      const leaf = mint(host)
      context = createSecureContext({ cert: leaf.cert, key: leaf.key })
      contexts.set(host, context)
    }
    return context
  }
}

/** A request sent on to the original host as it came; `body` when it has been read already. */
const passOn = (
  options: InterceptOptions,
  request: IncomingMessage,
  response: ServerResponse,
  target: Target,
  body?: Buffer
) => {
  const upstream = httpsRequest({
    host: target.where.host,
    port: target.where.port,
    servername: target.host,
    method: request.method,
    path: request.url,
    headers: withoutConnectionHeaders(request.headers),
    ...trusting(options.upstreamCa)
  }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutConnectionHeaders(answer.headers))
    answer.pipe(response)
  })
  upstream.on("error", (error) => {
    options.log(`${target.host}: ${error.message}`)
    if (!response.headersSent) {
      response.writeHead(502, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: { message: `isartor proxy: ${target.host}: ${error.message}` } }))
    } else response.destroy(error)
  })
  if (body === undefined) request.pipe(upstream)
  else upstream.end(body)
}

/** A chat request, read whole, answered by the gateway; the host gets it as it came when the gateway does not take it. */
const answerChat = (
  options: InterceptOptions,
  gateway: ProxyGateway,
  request: IncomingMessage,
  response: ServerResponse,
  target: Target
) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const body = Buffer.concat(chunks)
    const origin = {
      host: target.host,
      port: target.port,
      connectHost: target.where.host,
      connectPort: target.where.port
    }
    gateway.answer(request, body, origin).then((answer) =>
      answer === undefined ? passOn(options, request, response, target, body) : sendResponse(answer, response)
    ).catch((error: Error) => {
      options.log(`${target.host}: ${error.message}`)
      if (!response.headersSent) response.writeHead(502, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: { message: `isartor proxy: ${error.message}` } }))
    })
  })
}

/** An upgrade (a WebSocket) goes to the host as it came, and its bytes flow both ways unread. */
const upgrade = (options: InterceptOptions, request: IncomingMessage, client: Socket, head: Buffer, target: Target) => {
  const upstream = tlsConnect({
    host: target.where.host,
    port: target.where.port,
    servername: target.host,
    ...trusting(options.upstreamCa)
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
  options.track(upstream)
  upstream.on("error", (error) => {
    options.log(`${target.host}: ${error.message}`)
    client.destroy()
  })
  client.on("error", () => upstream.destroy())
  client.on("close", () => upstream.destroy())
}

/**
 * Reads a listed host's traffic: its TLS terminated with a certificate from the local CA, each request answered by
 * the gateway when it is a chat request it takes, else sent on to the original host (its TLS verified) as it came.
 */
export const interceptor = (options: InterceptOptions) => {
  const contextFor = secureContexts(options.authority)
  const targets = new WeakMap<Socket, Target>()
  const inner = createServer((request, response) => {
    const target = targets.get(request.socket)!
    const gateway = options.gateway
    if (!gateway || !isChatRequest(request.method, request.url)) return passOn(options, request, response, target)
    // A body larger than the gateway takes (max_body_bytes) goes to the host as it streams in, never held here.
    if (Number(request.headers["content-length"] ?? 0) > gateway.maxBodyBytes) {
      return passOn(options, request, response, target)
    }
    answerChat(options, gateway, request, response, target)
  })
  inner.on(
    "upgrade",
    (request: IncomingMessage, client: Socket, head: Buffer) =>
      upgrade(options, request, client, head, targets.get(request.socket)!)
  )
  /** Takes over a CONNECT's socket: the tunnel is acknowledged, and its TLS is ours to terminate. */
  const terminate = (client: Socket, target: Target, head: Buffer) => {
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
    if (head.length > 0) client.unshift(head)
    const secure = new TLSSocket(client, {
      isServer: true,
      secureContext: contextFor(target.host),
      ALPNProtocols: ["http/1.1"]
    })
    options.track(secure)
    targets.set(secure, target)
    secure.on("error", (error) => options.log(`${target.host}: client TLS: ${error.message}`))
    inner.emit("connection", secure)
  }
  return { terminate, close: () => inner.close() }
}
