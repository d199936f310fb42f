/** The canonical (OpenAI Chat Completions) message shape the provider translations read. */
import type { ToolCall } from "../Completion.ts"

export type Json = Record<string, unknown>

export interface OpenAIMessage {
  role: string
  content?: unknown
  tool_calls?: Array<ToolCall>
  tool_call_id?: string
  name?: string
}

/** The text of a message's content: the string itself, or its text parts joined. */
export const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part: Json) => (part.type === "text" ? String(part.text ?? "") : "")).join("")
    : ""
