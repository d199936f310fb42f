/**
 * The pipeline's stream (OpenAI chunk SSE) as Gemini's (`streamGenerateContent?alt=sse`): one `data:` event per
 * chunk that says something, thoughts and text as they come, each function call once its arguments are whole, the
 * finish reason with the usage in the last event. An upstream failure is one `{"error": …}` event, the last, as
 * Gemini ends a stream that fails.
 */
import type { ToolCall, Usage } from "../../domain/Completion.ts"
import { errorMessage, SseSplitter } from "../../streams/SseEvents.ts"
import type { Json, OpenAIChunk } from "../openai.ts"
import { finishToGemini, functionCallPart, usageMetadataOf } from "./response.ts"

type Chunk = OpenAIChunk & { readonly usage?: Usage | null }
type Delta = NonNullable<NonNullable<OpenAIChunk["choices"]>[number]["delta"]>

/** What one candidate has streamed so far: its calls still arriving, and its finish once said. */
interface CandidateState {
  readonly calls: Array<ToolCall>
  finish: string | undefined
}

const encoder = new TextEncoder()
const frame = (events: ReadonlyArray<Json>) =>
  encoder.encode(events.map((event) => `data: ${JSON.stringify(event)}\r\n\r\n`).join(""))

/** Translates chunks one at a time; `wrap` puts each response in an envelope (Code Assist's `{"response": …}`). */
export const geminiStreamTranslator = (wrap: (response: Json) => Json = (response) => response) => {
  const candidates = new Map<number, CandidateState>()
  let model: string | undefined
  let id: string | undefined
  let usage: Usage | undefined
  const head = () => ({ ...(model ? { modelVersion: model } : {}), ...(id ? { responseId: id } : {}) })
  const stateOf = (index: number) => {
    let state = candidates.get(index)
    if (state === undefined) candidates.set(index, state = { calls: [], finish: undefined })
    return state
  }
  const collectCalls = (state: CandidateState, delta: Delta) => {
    for (const call of delta.tool_calls ?? []) {
      const at = call.index ?? state.calls.length
      const known = (state.calls[at] ??= { id: "", type: "function", function: { name: "", arguments: "" } })
      if (call.id) known.id = call.id
      if (call.function?.name) known.function.name += call.function.name
      if (call.function?.arguments) known.function.arguments += call.function.arguments
      const extra = (call as { extra_content?: unknown }).extra_content
      if (extra !== undefined) known.extra_content = extra
    }
  }
  const partsOf = (delta: Delta): Array<Json> => [
    ...(typeof delta.reasoning_content === "string" && delta.reasoning_content !== ""
      ? [{ text: delta.reasoning_content, thought: true }]
      : []),
    ...(typeof delta.content === "string" && delta.content !== "" ? [{ text: delta.content }] : [])
  ]
  /** The candidates' parts of one chunk; calls and finishes wait for the end, when they are whole. */
  const onChunk = (chunk: Chunk): Array<Json> => {
    if (chunk.model) model = chunk.model
    if (chunk.id) id = chunk.id
    if (chunk.usage) usage = chunk.usage
    const out: Array<Json> = []
    for (const choice of chunk.choices ?? []) {
      const index = choice.index ?? 0
      const state = stateOf(index)
      const delta = choice.delta ?? {}
      collectCalls(state, delta)
      if (choice.finish_reason) state.finish = finishToGemini(choice.finish_reason)
      const parts = partsOf(delta)
      if (parts.length > 0) out.push({ content: { role: "model", parts }, index })
    }
    return out.length > 0 ? [wrap({ candidates: out, ...head() })] : []
  }
  /** The stream said `[DONE]`: each candidate's calls and finish, and the usage. */
  const onEnd = (): Array<Json> => {
    const last = [...candidates.entries()].map(([index, state]) => ({
      content: { role: "model", parts: state.calls.length > 0 ? state.calls.map(functionCallPart) : [{ text: "" }] },
      finishReason: state.finish ?? "STOP",
      index
    }))
    return [wrap({ candidates: last, ...(usage ? { usageMetadata: usageMetadataOf(usage) } : {}), ...head() })]
  }
  const fail = (message: string): Array<Json> => [wrap({ error: { code: 502, message, status: "UNAVAILABLE" } })]
  return { onChunk, onEnd, fail }
}

/** Reads the events a read completed; true when one ended the stream. */
const translateAll = (
  translate: ReturnType<typeof geminiStreamTranslator>,
  events: ReadonlyArray<{ readonly data: string | undefined; readonly event: string | undefined }>,
  out: Array<Json>
): boolean => {
  for (const { data, event } of events) {
    if (data === undefined) continue
    if (data === "[DONE]") {
      out.push(...translate.onEnd())
      return true
    }
    let chunk: Chunk | null
    try {
      chunk = JSON.parse(data) as Chunk | null
    } catch {
      out.push(...translate.fail("upstream sent a stream event that is not JSON"))
      return true
    }
    if (event === "error" || chunk?.error) {
      out.push(...translate.fail(errorMessage(data)))
      return true
    }
    out.push(...translate.onChunk(chunk ?? {}))
  }
  return false
}

/** OpenAI chunk SSE → Gemini SSE. A stream that ends without `[DONE]` ends in an error event. */
export const openAIStreamToGemini = (
  openai: ReadableStream<Uint8Array>,
  wrap?: (response: Json) => Json
): ReadableStream<Uint8Array> => {
  const translate = geminiStreamTranslator(wrap)
  const reader = openai.getReader()
  const splitter = new SseSplitter()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const out: Array<Json> = []
      try {
        for (;;) {
          const result = await reader.read()
          const over = translateAll(translate, splitter.read(result), out)
          if (over || result.done) {
            if (!over) out.push(...translate.fail("upstream stream ended before the answer was finished"))
            controller.enqueue(frame(out))
            controller.close()
            if (!result.done) await reader.cancel().catch(() => undefined)
            return
          }
          if (out.length > 0) return controller.enqueue(frame(out))
        }
      } catch {
        controller.enqueue(frame([...out, ...translate.fail("upstream stream broke off")]))
        controller.close()
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}
