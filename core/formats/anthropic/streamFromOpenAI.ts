/** Streamed answers toward an Anthropic client: OpenAI `chat.completion.chunk`s → Anthropic's SSE events. */
import type { Json } from "../openai.ts"
import { type OpenAIChunk, stopFromOpenAI, usageToAnthropic } from "./wire.ts"

type AnthropicEvent = { event: string; data: Json }
type ChunkDelta = NonNullable<NonNullable<OpenAIChunk["choices"]>[number]["delta"]>

/** What the OpenAI → Anthropic translation remembers between chunks. */
interface ToAnthropicState {
  started: boolean
  /** An error event or the closing events went out: nothing may follow. */
  over: boolean
  /** `call`: which tool call a tool block is (its index, or its id when a server sends none). */
  open: { index: number; kind: "text" | "tool" | "thinking"; call?: number | string } | undefined
  nextIndex: number
  // Unset until a finish reason arrives: a stream without one did not finish, whatever came before.
  stopReason: string | undefined
  usage: Json
  usageKnown: boolean
}

const anthropicEvent = (type: string, data: Json): AnthropicEvent => ({ event: type, data: { type, ...data } })

/** Closes the open content block, if any. */
const closeBlock = (state: ToAnthropicState): Array<AnthropicEvent> => {
  if (!state.open) return []
  const index = state.open.index
  state.open = undefined
  return [anthropicEvent("content_block_stop", { index })]
}

/** Opens a new content block of `kind`, closing the one before. */
const openBlock = (
  state: ToAnthropicState,
  out: Array<AnthropicEvent>,
  kind: "text" | "tool" | "thinking",
  contentBlock: Json,
  call?: number | string
) => {
  out.push(...closeBlock(state))
  const open = { index: state.nextIndex++, kind, call }
  state.open = open
  out.push(anthropicEvent("content_block_start", { index: open.index, content_block: contentBlock }))
  return open
}

/** The first chunk: `message_start`, with the input tokens when they are known up front. */
const messageStart = (state: ToAnthropicState, chunk: OpenAIChunk) => {
  state.started = true
  // Input tokens known up front (an Anthropic upstream, a cached answer) are in `message_start`.
  if (chunk.usage) state.usage = usageToAnthropic(chunk.usage as Json)
  const id = String(chunk.id ?? "")
  return anthropicEvent("message_start", {
    message: {
      id: id.startsWith("msg_") ? id : `msg_${id}`,
      type: "message",
      role: "assistant",
      model: chunk.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: state.usage
    }
  })
}

/** Reasoning text, its signature and redacted parts → thinking blocks. */
const thinkingEvents = (state: ToAnthropicState, delta: ChunkDelta, out: Array<AnthropicEvent>) => {
  if (typeof delta.reasoning_content === "string" && delta.reasoning_content !== "") {
    const open = state.open?.kind === "thinking"
      ? state.open
      : openBlock(state, out, "thinking", { type: "thinking", thinking: "", signature: "" })
    out.push(anthropicEvent("content_block_delta", {
      index: open.index,
      delta: { type: "thinking_delta", thinking: delta.reasoning_content }
    }))
  }
  if (typeof delta.reasoning_signature === "string" && state.open?.kind === "thinking") {
    out.push(anthropicEvent("content_block_delta", {
      index: state.open.index,
      delta: { type: "signature_delta", signature: delta.reasoning_signature }
    }))
  }
  for (const data of delta.reasoning_redacted ?? []) {
    out.push(...closeBlock(state))
    const index = state.nextIndex++
    out.push(
      anthropicEvent("content_block_start", { index, content_block: { type: "redacted_thinking", data } }),
      anthropicEvent("content_block_stop", { index })
    )
  }
}

/** Tool call pieces → `tool_use` blocks and their `input_json_delta`s. */
const toolCallEvents = (state: ToAnthropicState, calls: ChunkDelta["tool_calls"], out: Array<AnthropicEvent>) => {
  for (const call of calls ?? []) {
    const fn = call.function ?? {}
    const which = call.index ?? call.id
    // A call starts with its id; a server that repeats the id on every piece is still sending the same call.
    if (call.id && !(state.open?.kind === "tool" && state.open.call === which)) {
      openBlock(state, out, "tool", { type: "tool_use", id: call.id, name: fn.name, input: {} }, which)
    }
    if (typeof fn.arguments === "string" && fn.arguments !== "" && state.open) {
      out.push(
        anthropicEvent("content_block_delta", {
          index: state.open.index,
          delta: { type: "input_json_delta", partial_json: fn.arguments }
        })
      )
    }
  }
}

/** One choice's delta → content block events; its finish reason is kept for the end. */
const choiceEvents = (
  state: ToAnthropicState,
  choice: NonNullable<OpenAIChunk["choices"]>[number],
  out: Array<AnthropicEvent>
) => {
  const delta = choice.delta ?? {}
  // Thinking (from an Anthropic upstream, or an OpenAI-compatible server's reasoning) comes before the text.
  thinkingEvents(state, delta, out)
  if (typeof delta.content === "string" && delta.content !== "") {
    const open = state.open?.kind === "text" ? state.open : openBlock(state, out, "text", { type: "text", text: "" })
    out.push(
      anthropicEvent("content_block_delta", { index: open.index, delta: { type: "text_delta", text: delta.content } })
    )
  }
  toolCallEvents(state, delta.tool_calls, out)
  if (typeof choice.finish_reason === "string") {
    state.stopReason = stopFromOpenAI[choice.finish_reason] ?? "end_turn"
  }
}

/**
 * OpenAI chunks → Anthropic's stream events, for `/v1/messages` clients. A stream ends either finished
 * (`message_delta` with its stop reason, then `message_stop`) or with one `error` event, and nothing after either.
 */
export const openAIStreamToAnthropic = () => {
  const state: ToAnthropicState = {
    started: false,
    over: false,
    open: undefined,
    nextIndex: 0,
    stopReason: undefined,
    usage: { input_tokens: 0, output_tokens: 0 },
    usageKnown: false
  }
  const fail = (message: string): Array<AnthropicEvent> => {
    if (state.over) return []
    state.over = true
    return [anthropicEvent("error", { error: { type: "api_error", message } })]
  }
  return {
    onChunk(chunk: OpenAIChunk): Array<AnthropicEvent> {
      if (state.over) return []
      if (chunk.error) {
        const error = chunk.error
        const message = typeof error === "string" ? error : error.message
        return fail(typeof message === "string" ? message : "upstream error")
      }
      const out: Array<AnthropicEvent> = []
      if (!state.started) out.push(messageStart(state, chunk))
      if (chunk.usage) {
        state.usageKnown = true
        state.usage = usageToAnthropic(chunk.usage as Json)
      }
      for (const choice of chunk.choices ?? []) choiceEvents(state, choice, out)
      return out
    },
    /** The OpenAI stream said `[DONE]`: the closing events, or an error when no finish reason ever came. */
    onEnd(): Array<AnthropicEvent> {
      if (state.over) return []
      if (!state.started || state.stopReason === undefined) {
        return fail("upstream stream ended before the answer was finished")
      }
      state.over = true
      return [
        ...closeBlock(state),
        anthropicEvent("message_delta", {
          delta: { stop_reason: state.stopReason, stop_sequence: null },
          // Input tokens are known only once the upstream's usage chunk came (after the text): they go here, where
          // the SDKs take them as the whole message's count, rather than as 0 in `message_start`.
          usage: state.usageKnown ? { ...state.usage } : { output_tokens: state.usage.output_tokens }
        }),
        anthropicEvent("message_stop", {})
      ]
    },
    /** The stream failed another way (broke off, ended without `[DONE]`, not JSON): one error event ends it. */
    fail
  }
}
