import { errorMessage, type SseEvent, SseSplitter } from "../streams/SseEvents.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"

export type ResponsesStreamEnd =
  | { readonly _tag: "Finished"; readonly response: Record<string, unknown> }
  | { readonly _tag: "Failed"; readonly message: string }
  | { readonly _tag: "Cancelled" }

/** A verdict on one event; a failure in another API's shape is replaced by one in the Responses API's. */
type Verdict = ResponsesStreamEnd | { readonly _tag: "Failed"; readonly message: string; readonly replace: true }

/** What one event says about the stream: read on, it finished (with the whole response), or it failed. */
const judge = (event: SseEvent): Verdict | undefined => {
  if (event.data === undefined) return undefined
  if (event.event === "error") return { _tag: "Failed", message: errorMessage(event.data) }
  if (event.event !== undefined && !event.event.startsWith("response.")) return undefined
  let data: { type?: unknown; response?: Record<string, unknown>; message?: unknown }
  try {
    data = JSON.parse(event.data) as typeof data
  } catch {
    return { _tag: "Failed", message: "upstream sent a stream event that is not JSON" }
  }
  const type = data.type ?? event.event
  if (type === "error") return { _tag: "Failed", message: String(data.message ?? "upstream error") }
  // The provider edge's own error event for a stream that broke (Chat Completions' shape): said again below in the
  // Responses API's shape, as the only error event the client gets.
  if (type === undefined && (data as { error?: unknown }).error) {
    return { _tag: "Failed", message: errorMessage(event.data), replace: true }
  }
  if (type === "response.failed") {
    const error = data.response?.error as { message?: unknown } | undefined
    return { _tag: "Failed", message: String(error?.message ?? "the response failed") }
  }
  if ((type === "response.completed" || type === "response.incomplete") && data.response) {
    return { _tag: "Finished", response: data.response }
  }
  return undefined
}

const encoder = new TextEncoder()

/** An error in the Responses API's own event shape, which its SDKs raise on. */
const errorEvent = (message: string, code: string) =>
  encoder.encode(`event: error\ndata: ${JSON.stringify({ type: "error", code, message, param: null })}\n\n`)

/** One tapped stream's state. */
interface ResponsesTap {
  readonly splitter: SseSplitter
  readonly onEnd: (end: ResponsesStreamEnd) => void
  ended: boolean
}

/** The stream's end, told once. */
const end = (tap: ResponsesTap, result: ResponsesStreamEnd) => {
  if (tap.ended) return
  tap.ended = true
  tap.onEnd(result)
}

const responsesTap: StreamTap<ResponsesTap> = {
  onRead: (tap, result, controller) => {
    // Whole events only: one that arrives in pieces goes out once it is complete.
    const events = tap.splitter.read(result)
    let text = ""
    for (const event of events) {
      const verdict = judge(event)
      if (verdict !== undefined && "replace" in verdict) {
        end(tap, { _tag: "Failed", message: verdict.message })
        controller.enqueue(encoder.encode(text))
        controller.enqueue(errorEvent(verdict.message, "stream_interrupted"))
        controller.close()
        return "ended"
      }
      if (verdict !== undefined) end(tap, verdict)
      text += event.raw
    }
    if (text !== "") controller.enqueue(encoder.encode(text))
    if (result.done) {
      if (!tap.ended) {
        const message = "upstream stream ended before the response was completed"
        end(tap, { _tag: "Failed", message })
        controller.enqueue(errorEvent(message, "stream_incomplete"))
      }
      controller.close()
      return "ended"
    }
    return text === "" ? "readOn" : "wait"
  },
  onFailure: (tap, _error, controller) => {
    const message = "upstream stream broke off"
    end(tap, { _tag: "Failed", message })
    controller.enqueue(errorEvent(message, "stream_interrupted"))
    controller.close()
  },
  onCancel: (tap) => end(tap, { _tag: "Cancelled" })
}

/**
 * Passes a Responses API event stream on to the client byte for byte, reading it on the side for its end: the
 * `response.completed` (or `.incomplete`) event carries the whole response, for the cache. A stream that ends with
 * neither that nor an error event gets one error event, so the client's SDK raises instead of waiting.
 */
export const tapResponsesSse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (end: ResponsesStreamEnd) => void
): ReadableStream<Uint8Array> => tapStream(upstream, responsesTap, { splitter: new SseSplitter(), onEnd, ended: false })
