/** The canonical (OpenAI Chat Completions) message shape the provider translations read. */
import type { ToolCall } from "../domain/Completion.ts"

export type Json = Record<string, unknown>

export interface OpenAIMessage {
  role: string
  content?: unknown
  tool_calls?: Array<ToolCall>
  tool_call_id?: string
  name?: string
}

export { textOf } from "../domain/messages.ts"

/**
 * What a provider with its own tool format (Anthropic, Gemini) cannot be sent: tools other than functions (`custom`)
 * and a `tool_choice` that names no function (`allowed_tools`). The message names the field; `undefined` when none.
 */
export const untranslatableTools = (body: Json, provider: string): string | undefined => {
  const tools = Array.isArray(body.tools) ? (body.tools as Array<Json>) : []
  const index = tools.findIndex((tool) =>
    tool.type !== "function" || typeof (tool.function as Json | undefined)?.name !== "string"
  )
  if (index >= 0) return `tools[${index}]: only function tools can be sent to ${provider}`
  const choice = body.tool_choice
  if (
    typeof choice === "object" && choice !== null &&
    typeof ((choice as Json).function as Json | undefined)?.name !== "string"
  ) {
    return `tool_choice: only "auto", "required", "none" or a named function can be sent to ${provider}`
  }
  return undefined
}

/** One `chat.completion.chunk` of an OpenAI stream (or an error event in its place). */
export interface OpenAIChunk {
  readonly id?: string
  readonly model?: string
  readonly error?: { readonly message?: unknown } | string | null
  readonly usage?: {
    readonly prompt_tokens?: number
    readonly completion_tokens?: number
    readonly [field: string]: unknown
  } | null
  readonly choices?: ReadonlyArray<{
    readonly index?: number
    readonly delta?: {
      readonly content?: string | null
      /** Reasoning text (OpenAI-compatible servers; Anthropic thinking), its signature and redacted parts. */
      readonly reasoning_content?: string | null
      readonly reasoning_signature?: string
      readonly reasoning_redacted?: ReadonlyArray<string>
      readonly tool_calls?: ReadonlyArray<{
        readonly index?: number
        readonly id?: string
        readonly function?: { readonly name?: string; readonly arguments?: string }
      }>
    }
    readonly finish_reason?: string | null
  }>
}
