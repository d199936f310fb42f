import type { IncomingHttpHeaders } from "node:http"
import { request as httpsRequest } from "node:https"
import { webStreamOf } from "../../runtimes/nodeFetch.ts"

/** Where an intercepted request was going: the original host, and where it really is (tests resolve names). */
export interface Origin {
  readonly host: string
  readonly port: number
  readonly connectHost: string
  readonly connectPort: number
}

/** One intercepted request as the client sent it, for its original host. */
export interface HostRequest extends Origin {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/** Headers of one connection (RFC 9110 § 7.6.1), never forwarded from one hop to the next. */
export const CONNECTION_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

/** What a re-sent request or answer leaves out: its connection's headers, and the host and length fetch sets anew. */
export const HOP_BY_HOP = new Set([...CONNECTION_HEADERS, "host", "content-length"])

export const passable = (headers: IncomingHttpHeaders): Record<string, string | Array<string>> =>
  Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string | Array<string>] =>
      entry[1] !== undefined && !HOP_BY_HOP.has(entry[0].toLowerCase())
    )
  )

/** A node answer as a fetch Response: its passable headers, its body as it streams in. */
const responseOf = (answer: import("node:http").IncomingMessage) => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(passable(answer.headers))) {
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one)
  }
  const status = answer.statusCode ?? 502
  const body = status === 204 || status === 304 ? null : webStreamOf(answer)
  return new Response(body, { status: status < 200 || status > 599 ? 502 : status, headers })
}

/**
 * The client's own request, its own bytes and headers, to the original host, its certificate verified against
 * `upstreamCa` (default: the system's roots); `timeoutMs` until the host answers, a stream then takes its time.
 */
export const sendToHost = (
  request: HostRequest,
  upstreamCa: string | ReadonlyArray<string> | undefined,
  timeoutMs: number
) =>
  new Promise<Response>((resolve, reject) => {
    const outgoing = httpsRequest({
      host: request.connectHost,
      port: request.connectPort,
      servername: request.host,
      method: "POST",
      path: request.path,
      headers: {
        ...passable(request.headers),
        // The answer is read here (to cache it): not compressed.
        "accept-encoding": "identity",
        host: request.port === 443 ? request.host : `${request.host}:${request.port}`,
        "content-length": String(request.body.length)
      },
      ...(upstreamCa === undefined ? {} : { ca: upstreamCa as string | Array<string> })
    }, (answer) => {
      clearTimeout(timer)
      resolve(responseOf(answer))
    })
    const timer = setTimeout(() => outgoing.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs)
    outgoing.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    outgoing.end(request.body)
  })
