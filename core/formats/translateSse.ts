import { errorMessage, type SseEvent, SseSplitter } from "../streams/SseEvents.ts"
import type { OpenAIChunk } from "./openai.ts"

/** A translation of OpenAI chunks into another API's stream events (`Out`), one chunk at a time. */
export interface StreamTranslator<Out> {
  /** A chunk's events; a chunk carrying an `error` is the translator's to end the stream with. */
  readonly onChunk: (chunk: OpenAIChunk) => ReadonlyArray<Out>
  /** The chunk stream said `[DONE]`. */
  readonly onEnd: () => ReadonlyArray<Out>
  /** The stream failed another way: one error event, the last thing the client gets. */
  readonly fail: (message: string) => ReadonlyArray<Out>
}

/** Translates `events` until one ends the stream; true when it did. */
const translateAll = <Out>(
  translate: StreamTranslator<Out>,
  events: ReadonlyArray<SseEvent>,
  out: Array<Out>
): boolean => {
  for (const { data, event } of events) {
    if (data === undefined) continue
    if (event === "error") {
      out.push(...translate.fail(errorMessage(data)))
      return true
    }
    if (data === "[DONE]") {
      out.push(...translate.onEnd())
      return true
    }
    let chunk: OpenAIChunk | null
    try {
      chunk = JSON.parse(data) as OpenAIChunk | null
    } catch {
      out.push(...translate.fail("upstream sent a stream event that is not JSON"))
      return true
    }
    out.push(...translate.onChunk(chunk ?? {}))
    if (chunk?.error) return true
  }
  return false
}

/**
 * OpenAI chunk SSE → another API's SSE (Anthropic Messages, OpenAI Responses, Gemini), event by event, each read's
 * events framed by `frame`. Only a stream that said `[DONE]` ends cleanly; any other end (an error event or chunk,
 * no `[DONE]`, an event that is not JSON, a read error) is one error event, the last thing the client gets.
 */
export const translateSse = <Out>(
  openai: ReadableStream<Uint8Array>,
  translate: StreamTranslator<Out>,
  frame: (events: ReadonlyArray<Out>) => Uint8Array
): ReadableStream<Uint8Array> => {
  const reader = openai.getReader()
  const splitter = new SseSplitter()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const out: Array<Out> = []
      try {
        for (;;) {
          const result = await reader.read()
          const over = translateAll(translate, splitter.read(result), out)
          if (over || result.done) {
            if (!over) out.push(...translate.fail("upstream stream ended before the answer was finished"))
            if (out.length > 0) controller.enqueue(frame(out))
            controller.close()
            if (!result.done) await reader.cancel().catch(() => undefined)
            return
          }
          if (out.length > 0) return controller.enqueue(frame(out))
        }
      } catch {
        // The OpenAI stream under this one already ends in an error event when its upstream breaks; this is a
        // last guard, so say no more than that the stream broke.
        controller.enqueue(frame([...out, ...translate.fail("upstream stream broke off")]))
        controller.close()
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}
