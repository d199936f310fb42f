/** What the Anthropic Messages translations share: the block shape and how stop reasons map between the APIs. */
import type { Json } from "../openai.ts"

export type { OpenAIChunk } from "../openai.ts"

export type Block = Json & { type: string }

/** A tool call's JSON arguments as an object; text that is not JSON is kept, not dropped. */
export const parseArguments = (text: string): unknown => {
  try {
    return text.trim() === "" ? {} : JSON.parse(text)
  } catch {
    return { _raw: text }
  }
}

/** Anthropic `stop_reason` → OpenAI `finish_reason`. */
export const finishFromAnthropic: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter"
}

/** OpenAI `finish_reason` → Anthropic `stop_reason`. */
export const stopFromOpenAI: Record<string, string> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  function_call: "tool_use",
  content_filter: "refusal"
}

// The wire shapes the translations read. What comes from upstream is not trusted: every field is optional, and a
// missing one falls back rather than throwing.

/** A content block of an Anthropic message (text and tool use are what a completion carries). */
export interface AnthropicBlock {
  readonly type: string
  readonly text?: string
  readonly id?: string
  readonly name?: string
  readonly input?: unknown
}

export interface AnthropicUsage {
  readonly input_tokens?: number
  readonly output_tokens?: number
}

/** An Anthropic Messages API response. */
export interface AnthropicMessage {
  readonly id?: string
  readonly model?: string
  readonly content?: ReadonlyArray<AnthropicBlock>
  readonly stop_reason?: string | null
  readonly usage?: AnthropicUsage
}

/** One event of an Anthropic Messages stream. */
export interface AnthropicStreamEvent {
  readonly type: string
  readonly message?: AnthropicMessage
  readonly content_block?: AnthropicBlock
  readonly delta?: {
    readonly type?: string
    readonly text?: string
    readonly partial_json?: string
    readonly stop_reason?: string | null
  }
  readonly usage?: AnthropicUsage
  readonly error?: { readonly message?: unknown }
}
