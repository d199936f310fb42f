/**
 * A provider's stream as the rest of the gateway may see it: OpenAI chunk SSE whose error events are scrubbed like
 * any error message (no key, nothing key-shaped), an error event its last event, and a broken read turned into an
 * error event, so no upstream exception (whose message could quote anything) travels further.
 */
import { type SseEvent, SseSplitter, sseText, streamErrorEvent } from "../streams/SseEvents.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"

/** How a provider's stream loses its credentials before anyone downstream reads it. */
export interface Redactor {
  /** An upstream error message: the key and anything key-shaped become "[redacted]". */
  readonly error: (text: string) => string
  /** Any other stream text: the key itself goes (a key-shaped word elsewhere may be part of the answer). */
  readonly text: (text: string) => string
}

/** How a provider's own SSE (Anthropic, Gemini) becomes OpenAI chunks. */
export interface StreamTranslation {
  /** One upstream event → OpenAI chunks; a chunk with `error` ends the stream. May throw on an unreadable event. */
  readonly onEvent: (data: string, event: string | undefined) => ReadonlyArray<unknown>
  /** The upstream ended: the last chunks, and whether it said it had finished (then `[DONE]` follows them). */
  readonly onEnd: () => { readonly chunks: ReadonlyArray<unknown>; readonly finished: boolean }
}

interface Step {
  /** What the client gets for the events of one read. */
  readonly text: string
  /** True when the stream ends here, whatever the upstream still sends. */
  readonly over: boolean
}

const encoder = new TextEncoder()

/** An error event as the SDKs tell one: a truthy `error` (some servers send `"error": null` on every chunk). */
const hasError = (value: unknown): boolean =>
  typeof value === "object" && value !== null && Boolean((value as { error?: unknown }).error)

/** Every string in a JSON value, scrubbed: upstream error bodies quote the offending header in any field. */
const scrubJson = (value: unknown, scrub: (text: string) => string): unknown => {
  if (typeof value === "string") return scrub(value)
  if (Array.isArray(value)) return value.map((item) => scrubJson(item, scrub))
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, scrubJson(item, scrub)]))
}

const scrubbedErrorEvent = (value: unknown, redact: Redactor, event?: string) =>
  sseText(JSON.stringify(scrubJson(value, redact.error)), event)

const brokeOff = (error: unknown, redact: Redactor): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const detail = cause instanceof Error ? cause.message : String(cause)
  return streamErrorEvent(redact.error(`upstream stream broke off: ${detail}`), "stream_interrupted")
}

/** One piped stream's state. */
interface Piping {
  readonly decoder: TextDecoder
  readonly splitter: SseSplitter
  readonly redact: Redactor
  readonly step: (events: ReadonlyArray<SseEvent>, done: boolean) => Step
  readonly untouched: (text: string) => boolean
}

const piping: StreamTap<Piping> = {
  onRead: ({ decoder, splitter, step, untouched }, { done, value }, controller) => {
    const text = done ? decoder.decode() : decoder.decode(value, { stream: true })
    if (!done && splitter.idle && text.endsWith("\n\n") && untouched(text)) {
      controller.enqueue(value)
      return "wait"
    }
    const { over, text: out } = step(done ? splitter.finish(text) : splitter.push(text), done)
    if (out !== "") controller.enqueue(encoder.encode(out))
    if (over || done) {
      controller.close()
      return "ended"
    }
    return out === "" ? "readOn" : "wait"
  },
  // A line too long or a failed step as well as a broken read: what the upstream still sends is not read.
  onFailure: ({ redact }, error, controller) => {
    controller.enqueue(encoder.encode(brokeOff(error, redact)))
    controller.close()
  }
}

/**
 * Pulls `body` through `step`, which turns the events of each read into the client's text. `untouched` may let a
 * read's own bytes through, without splitting them into events, when they are whole events (nothing held back
 * before, a blank line at the end) that need no rewriting: the common case, kept cheap.
 */
const pipeEvents = (
  body: ReadableStream<Uint8Array>,
  redact: Redactor,
  maxLineLength: number,
  step: (events: ReadonlyArray<SseEvent>, done: boolean) => Step,
  untouched: (text: string) => boolean = () => false
): ReadableStream<Uint8Array> =>
  tapStream(body, piping, {
    decoder: new TextDecoder(),
    splitter: new SseSplitter(maxLineLength),
    redact,
    step,
    untouched
  })

/** An OpenAI-compatible upstream's SSE, passed on as it is but for error events and the key. */
export const relayStream = (
  body: ReadableStream<Uint8Array>,
  redact: Redactor,
  maxLineLength = Number.POSITIVE_INFINITY
): ReadableStream<Uint8Array> => {
  // Only an event that mentions "error" is parsed; content chunks are only searched for the key. An error is a
  // `data: {"error": …}` event, or any event named `error` (the SDKs raise on both).
  const relay = (event: SseEvent): Step => {
    const named = event.event === "error"
    if (event.data !== undefined && (named || event.data.includes("\"error\""))) {
      try {
        const parsed: unknown = JSON.parse(event.data)
        if (named || hasError(parsed)) return { text: scrubbedErrorEvent(parsed, redact, event.event), over: true }
      } catch {
        if (named) return { text: sseText(redact.error(event.data), event.event), over: true }
        // Not JSON: the tap downstream ends the stream on it; only the key comes out here.
      }
    }
    return { text: redact.text(event.raw), over: false }
  }
  return pipeEvents(
    body,
    redact,
    maxLineLength,
    (events) => {
      let text = ""
      for (const event of events) {
        const step = relay(event)
        text += step.text
        if (step.over) return { text, over: true }
      }
      return { text, over: false }
    },
    (text) => !text.includes("error") && redact.text(text) === text
  )
}

/** A provider's own SSE (Anthropic, Gemini) re-framed as OpenAI chunk SSE, event by event as it arrives. */
export const translateStream = (
  body: ReadableStream<Uint8Array>,
  redact: Redactor,
  translation: StreamTranslation,
  maxLineLength = Number.POSITIVE_INFINITY
): ReadableStream<Uint8Array> => {
  const frame = (chunks: ReadonlyArray<unknown>): Step => {
    let text = ""
    for (const chunk of chunks) {
      if (hasError(chunk)) return { text: text + scrubbedErrorEvent(chunk, redact), over: true }
      text += redact.text(sseText(JSON.stringify(chunk)))
    }
    return { text, over: false }
  }
  return pipeEvents(body, redact, maxLineLength, (events, done) => {
    let text = ""
    for (const event of events) {
      if (event.data === undefined) continue
      let chunks: ReadonlyArray<unknown>
      try {
        chunks = translation.onEvent(event.data, event.event)
      } catch {
        // Not the parser's message: it would quote the event, and the event may quote anything.
        const message = "upstream sent a stream event that is not JSON"
        return { text: text + streamErrorEvent(message, "stream_malformed"), over: true }
      }
      const step = frame(chunks)
      text += step.text
      if (step.over) return { text, over: true }
    }
    if (!done) return { text, over: false }
    const { chunks, finished } = translation.onEnd()
    const last = frame(chunks)
    return { text: text + last.text + (finished && !last.over ? sseText("[DONE]") : ""), over: true }
  })
}
