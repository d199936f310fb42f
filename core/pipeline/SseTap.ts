import { type Completion, CompletionAssembler, isCacheable } from "../domain/Completion.ts"
import {
  endsWithLineBreak,
  errorMessage,
  messageOf,
  type SseEvent,
  SseSplitter,
  streamErrorEvent
} from "../streams/SseEvents.ts"
import { type StreamTap, type TapStep, tapStream } from "../streams/tapStream.ts"

export type StreamEnd =
  | { readonly _tag: "Finished"; readonly completion: Completion }
  | { readonly _tag: "Failed"; readonly message: string }
  | { readonly _tag: "Cancelled" }

const encoder = new TextEncoder()

/** What one event means for the stream: read on, it finished, or it failed (and how the client is told). */
type Verdict =
  | { readonly _tag: "Continue" }
  | { readonly _tag: "Done" }
  | { readonly _tag: "Failed"; readonly message: string; readonly event: string }

const proceed: Verdict = { _tag: "Continue" }

/** What one event means for the stream; a chunk is added to the answer assembled on the side. */
const judge = (event: SseEvent, assembler: CompletionAssembler): Verdict => {
  if (event.data === undefined) return proceed
  if (event.data === "[DONE]") return { _tag: "Done" }
  if (event.event === "error") return { _tag: "Failed", message: errorMessage(event.data), event: event.raw }
  try {
    const chunk = JSON.parse(event.data) as Parameters<CompletionAssembler["add"]>[0] & { error?: unknown }
    // Truthy, as the SDKs read it: some servers send `"error": null` on every ordinary chunk.
    if (chunk.error) return { _tag: "Failed", message: messageOf(chunk.error), event: event.raw }
    assembler.add(chunk)
    return proceed
  } catch {
    const message = "upstream sent a stream event that is not JSON"
    return { _tag: "Failed", message, event: streamErrorEvent(message, "stream_malformed") }
  }
}

/**
 * The stream is over: finished only with `[DONE]` (passed in as `done`) and every choice finished. Otherwise the
 * error event takes the place of the `[DONE]`, which SDKs stop reading at.
 */
const conclude = (
  done: SseEvent | undefined,
  assembler: CompletionAssembler,
  end: (result: StreamEnd) => void
): string => {
  const completion = assembler.result()
  if (done && completion && isCacheable(completion)) {
    end({ _tag: "Finished", completion })
    return done.raw
  }
  const message = "upstream stream ended before the answer was finished"
  end({ _tag: "Failed", message })
  return streamErrorEvent(message, "stream_incomplete")
}

/** One tapped stream's reading state. */
interface Tap {
  readonly splitter: SseSplitter
  readonly assembler: CompletionAssembler
  /** Told once, however the stream ends. */
  readonly end: (result: StreamEnd) => void
  readonly describeFailure: (error: unknown) => string
}

/**
 * One read passed on to the client: `"readOn"` when it held no whole event yet, `"wait"` when its events went out,
 * `"ended"` when the stream is over (its last bytes sent and the client's stream closed).
 */
const passOn = (
  tap: Tap,
  result: ReadableStreamReadResult<Uint8Array>,
  controller: ReadableStreamDefaultController<Uint8Array>
): TapStep => {
  const { done, value } = result
  const wasIdle = tap.splitter.idle
  const events = tap.splitter.read(result)
  let verdict: Verdict = proceed
  let kept = 0 // events passed on before the one that ends the stream, if one does
  for (const event of events) {
    verdict = judge(event, tap.assembler)
    if (verdict._tag !== "Continue") break
    kept++
  }
  if (verdict._tag === "Continue" && !done) {
    if (events.length === 0) return "readOn"
    // The common case: the chunk was whole events and nothing was held back, so it goes out untouched.
    const whole = wasIdle && tap.splitter.idle && endsWithLineBreak(value)
    controller.enqueue(whole ? value : encoder.encode(events.map((event) => event.raw).join("")))
    return "wait"
  }
  let text = events.slice(0, kept).map((event) => event.raw).join("")
  if (verdict._tag === "Failed") {
    tap.end({ _tag: "Failed", message: verdict.message })
    text += verdict.event
  } else text += conclude(verdict._tag === "Done" ? events[kept] : undefined, tap.assembler, tap.end)
  if (text !== "") controller.enqueue(encoder.encode(text))
  controller.close()
  return "ended"
}

const sseTap: StreamTap<Tap> = {
  onRead: passOn,
  onFailure: (tap, error, controller) => {
    const message = tap.describeFailure(error)
    tap.end({ _tag: "Failed", message })
    controller.enqueue(encoder.encode(streamErrorEvent(message, "stream_interrupted")))
    controller.close()
  },
  onCancel: (tap) => tap.end({ _tag: "Cancelled" })
}

/**
 * Forwards an upstream OpenAI SSE body to the client as it arrives, while reading it on the side to learn whether
 * it finished cleanly (a `[DONE]` and a finish reason on every choice). Whole events pass through byte for byte;
 * bytes are re-encoded only when a chunk ends mid-event. A stream that fails ends with one error event and nothing
 * after it, so the client's SDK raises instead of seeing a short answer: the upstream's own error event (the
 * provider edge has scrubbed it), or one of ours when the stream broke off, ended unfinished or was not JSON.
 */
export const tapSse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (end: StreamEnd) => void,
  describeFailure: (error: unknown) => string
): ReadableStream<Uint8Array> => {
  let ended = false
  const end = (result: StreamEnd) => {
    if (ended) return
    ended = true
    onEnd(result)
  }
  const tap: Tap = { splitter: new SseSplitter(), assembler: new CompletionAssembler(), end, describeFailure }
  return tapStream(upstream, sseTap, tap)
}
