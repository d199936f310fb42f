// Two ways to send a request: the gateway's own `fetch` in this process, or a real loopback socket (chunked, slow and
// oversized bodies as Node's HTTP server sees them). Either way the result is what the client observed.
import http from "node:http"
import type { RunningGateway } from "../gateway.ts"
import type { FuzzRequest } from "./request.ts"

export interface Observed {
  readonly status: number
  readonly contentType: string
  readonly body: string
  /** The request never got a whole response: the connection broke, the handler threw, or it timed out. */
  readonly error?: string
}

const encoder = new TextEncoder()
const REQUEST_TIMEOUT_MS = 20_000
const bytesOf = (body: string | Uint8Array) => (typeof body === "string" ? encoder.encode(body) : body)
const piecesOf = (bytes: Uint8Array) => {
  const size = Math.max(1, Math.ceil(bytes.length / 5))
  return Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
}
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const withTimeout = <A>(promise: Promise<A>, onTimeout: () => A) =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => resolve(onTimeout()), REQUEST_TIMEOUT_MS)
    promise.then((value) => (clearTimeout(timer), resolve(value)), (error) => (clearTimeout(timer), reject(error)))
  })

export const describeError = (
  error: unknown
) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error))

/** Through the gateway's own `fetch`, as a runtime adapter would call it. */
export const sendInProcess = async (
  fetchHandler: RunningGateway["gateway"]["fetch"],
  request: FuzzRequest
): Promise<Observed> => {
  const headers = new Headers()
  for (const [name, value] of request.headers) headers.append(name, value)
  let body: BodyInit | undefined
  if (request.body !== undefined) {
    const bytes = bytesOf(request.body)
    if (request.delivery === "whole") {
      headers.set("content-length", String(bytes.length))
      body = bytes as Uint8Array<ArrayBuffer>
    } else {
      const pieces = piecesOf(bytes)
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (request.delivery === "slow") await sleep(5)
          const piece = pieces.shift()
          if (piece) controller.enqueue(piece)
          else controller.close()
        }
      })
    }
  }
  const exchange = async (): Promise<Observed> => {
    const response = await fetchHandler(
      new Request(
        `http://gateway.test${request.path}`,
        { method: request.method, headers, body, duplex: "half" } as RequestInit
      )
    )
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: await response.text()
    }
  }
  return withTimeout(
    exchange(),
    () => ({ status: 0, contentType: "", body: "", error: `no response within ${REQUEST_TIMEOUT_MS} ms` })
  )
    .catch((error: unknown) => ({
      status: 0,
      contentType: "",
      body: "",
      error: `the handler threw ${describeError(error)}`
    }))
}

const socketAgent = new http.Agent({ keepAlive: true, maxSockets: 16 })

/** Over a real loopback connection: what Node's HTTP server, Hono's adapter and the body limit see in production. */
export const sendOverSocket = (baseUrl: string, request: FuzzRequest, retried = false): Promise<Observed> =>
  new Promise((resolve) => {
    const url = new URL(baseUrl)
    let settled = false
    let bodySent = request.body === undefined || request.delivery === "whole"
    const settle = (observed: Observed) => {
      if (!settled) (settled = true), resolve(observed)
      // Answered before the whole body was sent (a 413, a 404): the connection is mid-body, it cannot carry more.
      if (!bodySent) outgoing.destroy()
    }
    const outgoing = http.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.path,
      agent: socketAgent
    })
    for (const [name, value] of request.headers) {
      // Framing headers belong to the connection: a contradictory one gets a bare 400 from Node's HTTP parser.
      if (name === "transfer-encoding" || name === "content-length") continue
      const previous = outgoing.getHeader(name)
      outgoing.setHeader(name, previous === undefined ? value : `${String(previous)}, ${value}`)
    }
    outgoing.setTimeout(
      REQUEST_TIMEOUT_MS,
      () => outgoing.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`))
    )
    outgoing.on("error", (error) => {
      // A kept-alive connection the server closed just as this request went out: Node's documented race, retried once.
      if (outgoing.reusedSocket && !retried && !settled && (error as NodeJS.ErrnoException).code === "ECONNRESET") {
        settled = true
        return void sendOverSocket(baseUrl, request, true).then(resolve)
      }
      settle({ status: 0, contentType: "", body: "", error: `socket: ${describeError(error)}` })
    })
    outgoing.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on(
        "error",
        (error) =>
          settle({ status: 0, contentType: "", body: "", error: `socket: response broke: ${describeError(error)}` })
      )
      response.on(
        "end",
        () =>
          settle({
            status: response.statusCode ?? 0,
            contentType: String(response.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8")
          })
      )
    })
    if (request.body === undefined) return void outgoing.end()
    const bytes = bytesOf(request.body)
    if (request.delivery === "whole") {
      outgoing.setHeader("content-length", bytes.length)
      return void outgoing.end(bytes)
    }
    // Explicit: Node's client sends a DELETE or OPTIONS body unframed otherwise (the server reads the next request).
    outgoing.setHeader("transfer-encoding", "chunked")
    void (async () => {
      for (const piece of piecesOf(bytes)) {
        // The gateway may answer (413) before the body is all sent: stop writing then.
        if (settled || outgoing.destroyed) return
        outgoing.write(piece)
        if (request.delivery === "slow") await sleep(20)
      }
      bodySent = true
      outgoing.end()
    })()
  })
