/**
 * The pipeline's stream (OpenAI chunk SSE) as Gemini's (`streamGenerateContent?alt=sse`): one `data:` event per
 * chunk that says something, thoughts and text as they come, each function call once its arguments are whole, the
 * finish reason with the usage in the last event. An upstream failure is one `{"error": …}` event, the last, as
 * Gemini ends a stream that fails.
 */
import type { ToolCall, Usage } from "../../domain/Completion.ts"
import { messageOf } from "../../streams/SseEvents.ts"
import type { Json, OpenAIChunk } from "../openai.ts"
import { translateSse } from "../translateSse.ts"
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

/** Adds a delta's tool-call pieces to the candidate's calls: ids and names as they come, arguments appended. */
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

/** A delta's thought and text, as Gemini parts. */
const partsOf = (delta: Delta): Array<Json> => [
  ...(typeof delta.reasoning_content === "string" && delta.reasoning_content !== ""
    ? [{ text: delta.reasoning_content, thought: true }]
    : []),
  ...(typeof delta.content === "string" && delta.content !== "" ? [{ text: delta.content }] : [])
]

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
  /** The candidates' parts of one chunk; calls and finishes wait for the end, when they are whole. */
  const onChunk = (received: OpenAIChunk): Array<Json> => {
    // A chunk's usage is OpenAI's whole `usage` (the translations read it as such).
    const chunk = received as Chunk
    // An error chunk ends the stream: Gemini's error, the last thing the client gets.
    if (chunk.error) return fail(messageOf(chunk.error))
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

/** OpenAI chunk SSE → Gemini SSE. A stream that ends without `[DONE]` ends in an error event. */
export const openAIStreamToGemini = (
  openai: ReadableStream<Uint8Array>,
  wrap?: (response: Json) => Json
): ReadableStream<Uint8Array> => translateSse(openai, geminiStreamTranslator(wrap), frame)
