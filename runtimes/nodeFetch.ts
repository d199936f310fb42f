import { Readable } from "node:stream"
import { Agent, request } from "undici"
import type { UpstreamFetchFunction } from "../core/transport/http.ts"

/** Connections kept open to each upstream: calls reuse them instead of dialling (keep-alive). */
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 })

const headersOf = (raw: Record<string, string | Array<string> | undefined>): Headers => {
  const headers = new Headers()
  for (const name in raw) {
    const value = raw[name]
    if (Array.isArray(value)) { for (const one of value) headers.append(name, one) }
    else if (value !== undefined) headers.set(name, value)
  }
  return headers
}

/**
 * undici's body as a web stream, read only when asked (pull) and destroyed when cancelled. Not `Readable.toWeb`:
 * on Node 20 it pushes on its own and, when its reader cancels while data is in flight, enqueues into a closed
 * controller — an uncaught `ERR_INVALID_STATE` that took the process down under client aborts.
 */
export const webStreamOf = (body: Readable): ReadableStream<Uint8Array> => {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await chunks.next()
      if (done) controller.close()
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
    },
    async cancel() {
      body.destroy()
      await chunks.return?.()
    }
  }, { highWaterMark: 0 })
}

/**
 * Bytes handed to undici as a body it reads once and then forgets: given as they are, undici's queue keeps them
 * until the answer has ended — a coding agent's body for its stream's whole life.
 */
const sentOnce = (bytes: Uint8Array): AsyncIterable<Uint8Array> => {
  let kept: Uint8Array | undefined = bytes
  return {
    async *[Symbol.asyncIterator]() {
      const sending = kept
      kept = undefined
      if (sending !== undefined) yield sending
    }
  }
}

/**
 * Upstream calls on Node through undici's pooled `request`, answered as a `Response` whose body is read as the
 * transport reads it (bounded): Node 20's global `fetch` spends more per call than the rest of a miss. undici's
 * `request` follows no redirect and inflates nothing, as the transport asks. Timeouts and unreachable hosts fail
 * as `fetch` fails (the signal's reason, the socket's error).
 */
export const nodeUpstreamFetch: UpstreamFetchFunction = async (url, init) => {
  const bytes = init.body instanceof Uint8Array ? init.body : undefined
  const answer = await request(url, {
    method: init.method as "POST",
    // With its length declared, the bytes are sent as they are (not chunked).
    headers: bytes === undefined ? init.headers : { ...init.headers, "content-length": String(bytes.byteLength) },
    body: bytes === undefined ? init.body : Readable.from(sentOnce(bytes), { objectMode: false }),
    signal: init.signal,
    dispatcher: agent
  })
  const status = answer.statusCode
  const body = status === 204 || status === 304 ? null : webStreamOf(answer.body)
  if (body === null) answer.body.destroy()
  return new Response(body, { status, headers: headersOf(answer.headers) })
}
