/** The request fields each direction of the Anthropic ⇄ OpenAI translation carries, and so those it drops. */
import type { Json } from "../openai.ts"

/** The Chat Completions fields the OpenAI → Anthropic translation carries; any other is dropped. */
const carriedToAnthropic = new Set([
  "model",
  "messages",
  "max_tokens",
  "max_completion_tokens",
  "tools",
  "tool_choice",
  "temperature",
  "top_p",
  "stop",
  "stream",
  "stream_options",
  "reasoning_effort",
  "user",
  "response_format",
  "parallel_tool_calls"
])

/** The Messages fields the Anthropic → OpenAI translation carries; any other is dropped. */
const carriedFromAnthropic = new Set([
  "model",
  "messages",
  "system",
  "max_tokens",
  "tools",
  "tool_choice",
  "temperature",
  "top_p",
  "stop_sequences",
  "stream",
  "thinking",
  "metadata",
  "output_config"
])

/** The top-level fields of `body` a translation in `direction` has no counterpart for. */
export const untranslatedFields = (body: Json, direction: "toAnthropic" | "fromAnthropic"): Array<string> => {
  const carried = direction === "toAnthropic" ? carriedToAnthropic : carriedFromAnthropic
  const fields = Object.keys(body).filter((field) =>
    !carried.has(field) && body[field] !== undefined && body[field] !== null
  )
  if (direction === "toAnthropic") return fields
  const serverTools = ((body.tools as Array<Json> | undefined) ?? []).flatMap((tool, index) =>
    tool.type === undefined || tool.type === "custom" ? [] : [`tools[${index}] (${String(tool.type)})`]
  )
  return [...fields, ...serverTools]
}
