import { endsWithLineBreak, type SseEvent, SseSplitter, sseText, streamErrorEvent } from "../../SseEvents.ts"

/** How a provider's stream loses its credentials before anyone downstream reads it. */
export interface Redactor {
  /** An upstream error message: the key and anything key-shaped become "[redacted]". */
  readonly error: (text: string) => string
  /** Any other stream text: the key itself goes (a key-shaped word elsewhere may be part of the answer). */
  readonly text: (text: string) => string
}

/**
 * A provider's OpenAI-format stream, as the rest of the gateway may see it: every string of an error event
 * scrubbed, the error event the stream's last, and a broken read turned into an error event, so downstream never
 * sees an upstream exception (whose message could quote anything).
 */
export interface StreamTranslation {
  /** One upstream event → OpenAI chunks; a chunk with `error` ends the stream. May throw on an event it cannot read. */
  readonly onEvent: (data: string, event: string | undefined) => ReadonlyArray<unknown>
  /** The upstream ended: the last chunks, and whether it said it had finished (then `[DONE]` follows them). */
  readonly onEnd: () => { readonly chunks: ReadonlyArray<unknown>; readonly finished: boolean }
}

const encoder = new TextEncoder()

const hasError = (value: unknown): boolean =>
  typeof value === "object" && value !== null && (value as { error?: unknown }).error !== undefined

/** Every string in a JSON value, scrubbed: upstream error bodies put the offending header in any field. */
const scrubJson = (value: unknown, scrub: (text: string) => string): unknown => {
  if (typeof value === "string") return scrub(value)
  if (Array.isArray(value)) return value.map((item) => scrubJson(item, scrub))
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, scrubJson(item, scrub)]))
}

const brokeOff = (error: unknown, redact: Redactor): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  return streamErrorEvent(
    redact.error(`upstream stream broke off: ${cause instanceof Error ? cause.message : String(cause)}`),
    "stream_interrupted"
  )
}

/**
 * Pulls `body` through `step`, which turns the events each read completes into text for the client and says whether
 * the stream is over; `fast` may hand back the read's own bytes when nothing in them needed rewriting.
 */
const relayEvents = (
  body: ReadableStream<Uint8Array>,
  redact: Redactor,
  step: (events: ReadonlyArray<SseEvent>, done: boolean) => { readonly text: string; readonly over: boolean },
  fast?: (events: ReadonlyArray<SseEvent>) => boolean
): ReadableStream<Uint8Array> => {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  const splitter = new SseSplitter()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          const wasIdle = splitter.idle
          const events = done ? splitter.finish(decoder.decode()) : splitter.push(decoder.decode(value, { stream: true }))
          if (!done && fast && wasIdle && splitter.idle && endsWithLineBreak(value) && fast(events)) {
            controller.enqueue(value)
            return
          }
          const { over, text } = step(events, done)
          if (text !== "") controller.enqueue(encoder.encode(text))
          if (over || done) {
            controller.close()
            if (!done) await reader.cancel().catch(() => undefined)
            return
          }
          if (text !== "") return
        }
      } catch (error) {
        controller.enqueue(encoder.encode(brokeOff(error, redact)))
        controller.close()
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}

/** An OpenAI-compatible upstream's SSE, passed on as it is except for error events and the key. */
export const relayStream = (body: ReadableStream<Uint8Array>, redact: Redactor): ReadableStream<Uint8Array> => {
  // Only an event that mentions `"error"` is parsed; content chunks are checked for the key and passed on.
  const clean = (event: SseEvent): { readonly raw: string; readonly error: boolean } => {
    if (event.data?.includes("\"error\"")) {
      try {
        const parsed: unknown = JSON.parse(event.data)
        if (hasError(parsed)) return { raw: sseText(JSON.stringify(scrubJson(parsed, redact.error)), event.event), error: true }
      } catch {
        // not JSON: the tap downstream ends the stream on it; only the key is taken out here
      }
    }
    return { raw: redact.text(event.raw), error: false }
  }
  return relayEvents(
    body,
    redact,
    (events) => {
      let text = ""
      for (const event of events) {
        const { error, raw } = clean(event)
        text += raw
        if (error) return { text, over: true }
      }
      return { text, over: false }
    },
    (events) => events.every((event) => !event.raw.includes("\"error\"") && redact.text(event.raw) === event.raw)
  )
}

/** A provider's own SSE (Anthropic, Gemini) re-framed as OpenAI chunk SSE, event by event as it arrives. */
export const translateStream = (
  body: ReadableStream<Uint8Array>,
  redact: Redactor,
  translation: StreamTranslation
): ReadableStream<Uint8Array> => {
  const frame = (chunks: ReadonlyArray<unknown>): { readonly text: string; readonly over: boolean } => {
    let text = ""
    for (const chunk of chunks) {
      if (hasError(chunk)) return { text: text + sseText(JSON.stringify(scrubJson(chunk, redact.error))), over: true }
      text += redact.text(sseText(JSON.stringify(chunk)))
    }
    return { text, over: false }
  }
  return relayEvents(body, redact, (events, done) => {
    let text = ""
    for (const event of events) {
      if (event.data === undefined) continue
      let chunks: ReadonlyArray<unknown>
      try {
        chunks = translation.onEvent(event.data, event.event)
      } catch {
        // The parser's message would quote the event, and the event may quote anything.
        return { text: text + streamErrorEvent("upstream sent a stream event that is not JSON", "stream_malformed"), over: true }
      }
      const framed = frame(chunks)
      text += framed.text
      if (framed.over) return { text, over: true }
    }
    if (!done) return { text, over: false }
    const { chunks, finished } = translation.onEnd()
    const framed = frame(chunks)
    return { text: text + framed.text + (finished && !framed.over ? sseText("[DONE]") : ""), over: true }
  })
}
