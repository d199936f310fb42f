import { type StreamTap, tapStream } from "../streams/tapStream.ts"

/** How much of an upstream the gateway takes, and how long it waits (config: see each field). */
export interface TransportLimits {
  /** `l3_timeout_secs`: a whole answer, or a stream's headers. */
  readonly timeoutMs: number
  /** `l3_stream_idle_secs`: the longest silence within a stream. */
  readonly streamIdleMs: number
  /** `max_upstream_body_bytes`: an answer's bytes, streamed or not. */
  readonly maxBodyBytes: number
  /** `max_sse_line_bytes`: the longest line of an event stream. */
  readonly maxSseLineBytes: number
}

/** An error body tells what went wrong in its first bytes; the rest is not read. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The configured bounds of upstream calls. */
export const transportLimits = (config: {
  readonly l3_timeout_secs: number
  readonly l3_stream_idle_secs: number
  readonly max_upstream_body_bytes: number
  readonly max_sse_line_bytes: number
}): TransportLimits => ({
  timeoutMs: config.l3_timeout_secs * 1000,
  streamIdleMs: config.l3_stream_idle_secs * 1000,
  maxBodyBytes: config.max_upstream_body_bytes,
  maxSseLineBytes: config.max_sse_line_bytes
})

/** A read of an upstream body that went past its bound: the part read is dropped, the rest never read. */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes (max_upstream_body_bytes)`)
  }
}

/**
 * Reads a body up to `limit` bytes as text. Past the limit the read stops and the stream is cancelled (so a
 * decompression bomb inflates no further), and `onOver` decides: fail, or keep what was read (an error body).
 */
export const readBounded = async (
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  onOver: "fail" | "truncate"
): Promise<string> => {
  if (body === null) return ""
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ""
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      if (onOver === "fail") throw new BodyTooLarge(limit)
      return text + decoder.decode(value.subarray(0, value.byteLength - (size - limit)))
    }
    text += decoder.decode(value, { stream: true })
  }
}

/** One guarded stream's state: the bytes so far, and the current read's idle timer. */
interface Guard {
  readonly limits: TransportLimits
  readonly abort: (reason: Error) => void
  size: number
  timer: ReturnType<typeof setTimeout> | undefined
  /** Set when the current read waited too long. */
  idle: Error | undefined
}

const guard: StreamTap<Guard> = {
  onPull: (state, stop) => {
    state.idle = undefined
    state.timer = setTimeout(() => {
      const idle = state.idle = new Error(`no event for ${state.limits.streamIdleMs / 1000} s (l3_stream_idle_secs)`)
      state.abort(idle)
      stop(idle)
    }, state.limits.streamIdleMs)
  },
  onRead: (state, { done, value }, controller) => {
    clearTimeout(state.timer)
    if (state.idle) throw state.idle
    if (done) {
      controller.close()
      return "ended"
    }
    state.size += value.byteLength
    if (state.size > state.limits.maxBodyBytes) throw new BodyTooLarge(state.limits.maxBodyBytes)
    controller.enqueue(value)
    return "wait"
  },
  onFailure: (state, error, controller) => {
    clearTimeout(state.timer)
    controller.error(state.idle ?? error)
  }
}

/**
 * An upstream event stream within bounds: ended with an error when it goes `idleMs` without a byte (the call is
 * aborted, which is what frees its socket) or passes `maxBytes` (the upstream is then no longer read). A stream that
 * keeps sending is never cut.
 */
export const guardedStream = (
  body: ReadableStream<Uint8Array>,
  limits: TransportLimits,
  abort: (reason: Error) => void
): ReadableStream<Uint8Array> =>
  tapStream(body, guard, { limits, abort, size: 0, timer: undefined, idle: undefined }, { highWaterMark: 0 })
