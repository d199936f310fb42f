/** Streamed answers, one event at a time: Anthropic's SSE events ⇄ OpenAI `chat.completion.chunk`s. */
import type { Json } from "../openai.ts"
import {
  type AnthropicBlock,
  type AnthropicStreamEvent,
  type AnthropicUsage,
  finishFromAnthropic,
  usageFromAnthropic
} from "./wire.ts"

// The way back (OpenAI chunks → Anthropic events) has a file of its own; importers take both directions from here.
export { openAIStreamToAnthropic } from "./streamFromOpenAI.ts"

/** What the Anthropic → OpenAI translation remembers between events. */
interface ToOpenAIState {
  head: { id: string; model: string; created: number }
  inputUsage: AnthropicUsage
  outputTokens: number
  /** The OpenAI index of the tool call being streamed: Anthropic numbers blocks, OpenAI numbers calls. */
  toolIndex: number
  stopped: boolean
}

const openAIChunk = (state: ToOpenAIState, delta: Json, finish: string | null = null) => ({
  id: state.head.id,
  object: "chat.completion.chunk",
  created: state.head.created,
  model: state.head.model,
  choices: [{ index: 0, delta, finish_reason: finish }]
})

/** `message_start`: the answer's id and model, and the role chunk that opens an OpenAI stream. */
const messageStartToOpenAI = (
  state: ToOpenAIState,
  event: AnthropicStreamEvent,
  includeUsage: boolean,
  usageUpFront: boolean
) => {
  state.head = { ...state.head, id: String(event.message?.id ?? ""), model: String(event.message?.model ?? "") }
  state.inputUsage = event.message?.usage ?? {}
  // The input figures are known from the start here. For an Anthropic client they travel with the first
  // chunk too (and again in the final one), so it reads them in `message_start`, as from Anthropic itself;
  // an OpenAI client gets usage once, at the end, as it expects (some add up usage across chunks).
  const opening = openAIChunk(state, { role: "assistant", content: "" })
  return [includeUsage && usageUpFront ? { ...opening, usage: usageFromAnthropic(state.inputUsage, 0) } : opening]
}

/** `content_block_start`: a tool call opens, or redacted thinking passes whole; text and thinking need no chunk. */
const blockStartToOpenAI = (state: ToOpenAIState, block: AnthropicBlock | undefined) => {
  if (block?.type === "redacted_thinking") {
    return [openAIChunk(state, { reasoning_redacted: [String(block.data ?? "")] })]
  }
  if (block?.type !== "tool_use") return []
  state.toolIndex++
  return [
    openAIChunk(state, {
      tool_calls: [{
        index: state.toolIndex,
        id: block.id,
        type: "function",
        function: { name: block.name, arguments: "" }
      }]
    })
  ]
}

/** `content_block_delta`: a piece of text, of thinking, its signature, or of a tool call's arguments. */
const blockDeltaToOpenAI = (state: ToOpenAIState, delta: AnthropicStreamEvent["delta"]) => {
  if (delta?.type === "text_delta") return [openAIChunk(state, { content: delta.text })]
  if (delta?.type === "thinking_delta") return [openAIChunk(state, { reasoning_content: delta.thinking })]
  if (delta?.type === "signature_delta") return [openAIChunk(state, { reasoning_signature: delta.signature })]
  if (delta?.type === "input_json_delta") {
    return [
      openAIChunk(state, { tool_calls: [{ index: state.toolIndex, function: { arguments: delta.partial_json } }] })
    ]
  }
  return []
}

/** `message_delta`: the final usage figures, and the stop reason as the chunk carrying `finish_reason`. */
const messageDeltaToOpenAI = (state: ToOpenAIState, event: AnthropicStreamEvent) => {
  state.outputTokens = Number(event.usage?.output_tokens ?? state.outputTokens)
  // The current API repeats the input figures here, final ones; older answers only had them at the start.
  if (event.usage?.input_tokens !== undefined && event.usage.input_tokens !== null) {
    state.inputUsage = { ...state.inputUsage, ...event.usage }
  }
  const reason = event.delta?.stop_reason
  return reason ? [openAIChunk(state, {}, finishFromAnthropic[String(reason)] ?? "stop")] : []
}

/** Anthropic's stream events → OpenAI chunks, one event at a time. */
export const anthropicStreamToOpenAI = (includeUsage: boolean, usageUpFront = false) => {
  const state: ToOpenAIState = {
    head: { id: "", model: "", created: Math.floor(Date.now() / 1000) },
    inputUsage: {},
    outputTokens: 0,
    toolIndex: -1,
    stopped: false
  }
  return {
    onEvent(data: string): Array<unknown> {
      const event = JSON.parse(data) as AnthropicStreamEvent
      switch (event.type) {
        case "message_start":
          return messageStartToOpenAI(state, event, includeUsage, usageUpFront)
        case "content_block_start":
          return blockStartToOpenAI(state, event.content_block)
        case "content_block_delta":
          return blockDeltaToOpenAI(state, event.delta)
        case "message_delta":
          return messageDeltaToOpenAI(state, event)
        case "message_stop":
          state.stopped = true
          return includeUsage
            ? [{
              ...openAIChunk(state, {}),
              choices: [],
              usage: usageFromAnthropic(state.inputUsage, state.outputTokens)
            }]
            : []
        case "error":
          return [{
            error: {
              message: String(event.error?.message ?? "upstream error"),
              type: "upstream_error"
            }
          }]
        default:
          return []
      }
    },
    /** True once `message_stop` came: the only sign that the answer is whole. */
    finished: () => state.stopped
  }
}
