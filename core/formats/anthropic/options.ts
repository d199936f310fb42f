/**
 * The request options Chat Completions and Anthropic Messages both have under other names — structured output and
 * parallel tool use — and the ones Anthropic has no counterpart for, which are refused rather than dropped: a client
 * asking for two choices, log probabilities or JSON mode must not get a plain one-choice prose answer (and have it
 * cached) without being told.
 */
import type { Json } from "../openai.ts"

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

// ---- OpenAI → Anthropic ----

/** `response_format: json_schema` → `output_config.format`; the rest of the client's `output_config` is kept. */
export const outputConfigOf = (body: Json): Json => {
  const format = body.response_format
  if (!isObject(format) || format.type !== "json_schema" || !isObject(format.json_schema)) return {}
  return { output_config: { format: { type: "json_schema", schema: format.json_schema.schema ?? {} } } }
}

/** `parallel_tool_calls: false` → `disable_parallel_tool_use` on the tool choice (auto when none was named). */
export const withParallelToolUse = (body: Json, toolChoice: Json | undefined): Json | undefined =>
  body.parallel_tool_calls === false && toolChoice?.type !== "none"
    ? { ...(toolChoice ?? { type: "auto" }), disable_parallel_tool_use: true }
    : toolChoice

/** What a Chat Completions body asks for that Anthropic cannot give; the message says why. `undefined`: nothing. */
export const unanswerableByAnthropic = (body: Json): string | undefined => {
  if (typeof body.n === "number" && body.n > 1) {
    return `n: ${body.n} choices cannot be sent to anthropic, which answers one; send n: 1 or ask ${body.n} times`
  }
  if (body.logprobs === true || typeof body.top_logprobs === "number") {
    return "logprobs: anthropic does not return log probabilities; leave logprobs and top_logprobs out"
  }
  if (isObject(body.response_format) && body.response_format.type === "json_object") {
    return "response_format: json_object has no anthropic counterpart; send a json_schema (structured output)"
  }
  return undefined
}

// ---- Anthropic → OpenAI ----

/** `output_config.format` (json_schema) → `response_format`. */
export const responseFormatOf = (body: Json): Json => {
  const format = isObject(body.output_config) ? body.output_config.format : undefined
  if (!isObject(format) || format.type !== "json_schema") return {}
  return { response_format: { type: "json_schema", json_schema: { name: "output", schema: format.schema ?? {} } } }
}

/** `disable_parallel_tool_use` → `parallel_tool_calls: false`, only with tools (OpenAI refuses it without). */
export const parallelToolCallsOf = (body: Json, hasTools: boolean): Json =>
  hasTools && isObject(body.tool_choice) && body.tool_choice.disable_parallel_tool_use === true
    ? { parallel_tool_calls: false }
    : {}
