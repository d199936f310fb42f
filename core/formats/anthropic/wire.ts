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
  /** `thinking` blocks: the reasoning and the signature that lets it be sent back. */
  readonly thinking?: string
  readonly signature?: string
  /** `redacted_thinking` blocks: the encrypted reasoning. */
  readonly data?: string
  readonly id?: string
  readonly name?: string
  readonly input?: unknown
}

export interface AnthropicUsage {
  readonly input_tokens?: number
  readonly output_tokens?: number
  readonly cache_creation_input_tokens?: number | null
  readonly cache_read_input_tokens?: number | null
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
    readonly thinking?: string
    readonly signature?: string
    readonly stop_reason?: string | null
  }
  readonly usage?: AnthropicUsage
  readonly error?: { readonly message?: unknown }
}

// Extended thinking and prompt caching have no field in Chat Completions: the canonical form carries them in fields
// of its own, `reasoning_content` being the name OpenAI-compatible servers (DeepSeek, vLLM) use for reasoning text.

/** The canonical message fields that hold an Anthropic answer's thinking. */
export interface CanonicalReasoning {
  reasoning_content?: string
  reasoning_signature?: string
  reasoning_redacted?: Array<string>
}

/**
 * Anthropic usage → Chat Completions usage: `prompt_tokens` counts every input token, cached or not (OpenAI's
 * meaning), and the cache figures are kept so the way back is exact.
 */
export const usageFromAnthropic = (usage: AnthropicUsage | undefined, outputTokens?: number) => {
  const input = Number(usage?.input_tokens ?? 0)
  const cacheRead = Number(usage?.cache_read_input_tokens ?? 0)
  const cacheCreation = Number(usage?.cache_creation_input_tokens ?? 0)
  const output = outputTokens ?? Number(usage?.output_tokens ?? 0)
  const prompt = input + cacheRead + cacheCreation
  return {
    prompt_tokens: prompt,
    completion_tokens: output,
    total_tokens: prompt + output,
    ...(cacheRead + cacheCreation > 0
      ? {
        prompt_tokens_details: { cached_tokens: cacheRead },
        cache_read_input_tokens: cacheRead,
        cache_creation_input_tokens: cacheCreation
      }
      : {})
  }
}

/** Chat Completions usage → Anthropic usage: the inverse of `usageFromAnthropic`. */
export const usageToAnthropic = (
  usage: Json | null | undefined
): { input_tokens: number; output_tokens: number } & Json => {
  const cacheRead = Number(usage?.cache_read_input_tokens ?? 0)
  const cacheCreation = Number(usage?.cache_creation_input_tokens ?? 0)
  return {
    input_tokens: Math.max(0, Number(usage?.prompt_tokens ?? 0) - cacheRead - cacheCreation),
    output_tokens: Number(usage?.completion_tokens ?? 0),
    ...(cacheRead + cacheCreation > 0
      ? { cache_read_input_tokens: cacheRead, cache_creation_input_tokens: cacheCreation }
      : {})
  }
}
