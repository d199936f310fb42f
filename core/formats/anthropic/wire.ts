/** What the Anthropic Messages translations share: the block shape and how stop reasons map between the APIs. */
import type { Json } from "../openai.ts"

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
