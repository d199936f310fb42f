import { errorMessage, type SseEvent, SseSplitter } from "../streams/SseEvents.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"
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

/** One translated stream's state: `out` holds the events of reads not yet sent. */
interface Translation<Out> {
  readonly splitter: SseSplitter
  readonly translate: StreamTranslator<Out>
  // A method, so that a translation of any `Out` is one of `unknown`: one table of handlers serves every stream.
  frame(events: ReadonlyArray<Out>): Uint8Array
  out: Array<Out>
}

const translation: StreamTap<Translation<unknown>> = {
  onRead: (state, result, controller) => {
    const out = state.out
    const over = translateAll(state.translate, state.splitter.read(result), out)
    if (over || result.done) {
      if (!over) out.push(...state.translate.fail("upstream stream ended before the answer was finished"))
      if (out.length > 0) controller.enqueue(state.frame(out))
      controller.close()
      return "ended"
    }
    if (out.length === 0) return "readOn"
    state.out = []
    controller.enqueue(state.frame(out))
    return "wait"
  },
  onFailure: (state, _error, controller) => {
    // The OpenAI stream under this one already ends in an error event when its upstream breaks; this is a last
    // guard, so say no more than that the stream broke.
    controller.enqueue(state.frame([...state.out, ...state.translate.fail("upstream stream broke off")]))
    controller.close()
  }
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
): ReadableStream<Uint8Array> =>
  tapStream<Translation<unknown>>(openai, translation, { splitter: new SseSplitter(), translate, frame, out: [] })
