import { errorMessage, type SseEvent, SseSplitter } from "../streams/SseEvents.ts"

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

/**
 * Passes a Responses API event stream on to the client byte for byte, reading it on the side for its end: the
 * `response.completed` (or `.incomplete`) event carries the whole response, for the cache. A stream that ends with
 * neither that nor an error event gets one error event, so the client's SDK raises instead of waiting.
 */
export const tapResponsesSse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (end: ResponsesStreamEnd) => void
): ReadableStream<Uint8Array> => {
  const reader = upstream.getReader()
  const splitter = new SseSplitter()
  let ended = false
  const end = (result: ResponsesStreamEnd) => {
    if (ended) return
    ended = true
    onEnd(result)
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const result = await reader.read()
          // Whole events only: one that arrives in pieces goes out once it is complete.
          const events = splitter.read(result)
          let text = ""
          for (const event of events) {
            const verdict = judge(event)
            if (verdict !== undefined && "replace" in verdict) {
              end({ _tag: "Failed", message: verdict.message })
              controller.enqueue(encoder.encode(text))
              controller.enqueue(errorEvent(verdict.message, "stream_interrupted"))
              controller.close()
              await reader.cancel().catch(() => undefined)
              return
            }
            if (verdict !== undefined) end(verdict)
            text += event.raw
          }
          if (text !== "") controller.enqueue(encoder.encode(text))
          if (result.done) {
            if (!ended) {
              const message = "upstream stream ended before the response was completed"
              end({ _tag: "Failed", message })
              controller.enqueue(errorEvent(message, "stream_incomplete"))
            }
            controller.close()
            return
          }
          if (text !== "") return
        }
      } catch {
        const message = "upstream stream broke off"
        end({ _tag: "Failed", message })
        controller.enqueue(errorEvent(message, "stream_interrupted"))
        controller.close()
      }
    },
    async cancel(reason) {
      end({ _tag: "Cancelled" })
      await reader.cancel(reason).catch(() => undefined)
    }
  })
}
