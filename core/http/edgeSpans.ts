import { Exit, type Tracer } from "effect"
import { nowNanos } from "../observability/RequestSpan.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"

/** A Server-Sent Events answer: its span lasts as long as its stream. */
export const streamed = (response: Response) =>
  response.body !== null && (response.headers.get("content-type") ?? "").startsWith("text/event-stream")

/** The request's span told how it was answered, and ended unless a stream carries it on. */
export const answerSpan = (
  span: Tracer.Span,
  response: Response,
  finalLayer: string | undefined,
  provider: string | undefined
) => {
  span.attribute("http.response.status_code", response.status)
  if (finalLayer !== undefined) span.attribute("isartor.final_layer", finalLayer)
  if (provider !== undefined) span.attribute("isartor.provider", provider)
  const exit = response.status >= 500 ? Exit.fail(`HTTP ${response.status}`) : Exit.void
  // A stream's span lasts until its last event has gone out (or the client left), not just its headers.
  if (!streamed(response)) span.end(nowNanos(), exit)
}

/** A stream passed on chunk by chunk, its request's span ended when it ends or the client cancels it. */
const spanEnding: StreamTap<Tracer.Span> = {
  onRead: (span, { done, value }, controller) => {
    if (!done) {
      controller.enqueue(value)
      return "wait"
    }
    controller.close()
    span.end(nowNanos(), Exit.void)
    return "ended"
  },
  onFailure: (span, error, controller) => {
    span.end(nowNanos(), Exit.fail(`stream broke off: ${error instanceof Error ? error.message : String(error)}`))
    controller.error(error)
  },
  onCancel: (span) => {
    span.attribute("isartor.stream.cancelled", true)
    span.end(nowNanos(), Exit.void)
  }
}

/** The stream, passed on chunk by chunk, ending the request's span when it ends or the client cancels it. */
export const endingWith = (response: Response, span: Tracer.Span): Response => {
  const body = tapStream(response.body!, spanEnding, span)
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers })
}

/** The trace id on the response; a response whose headers cannot change (a passed-through fetch) is copied. */
export const withTraceId = (response: Response, traceId: string) => {
  try {
    response.headers.set("x-isartor-trace-id", traceId)
    return response
  } catch {
    const copy = new Response(response.body, response)
    copy.headers.set("x-isartor-trace-id", traceId)
    return copy
  }
}
