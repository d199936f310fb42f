/**
 * OpenAI Responses API requests → Chat Completions requests, the pipeline's canonical form: `instructions` and
 * `input` (a string or items: messages, function calls and their outputs) become `messages`; function tools,
 * `tool_choice`, `text.format`, `reasoning.effort` and the sampling fields carry over. What has no counterpart
 * (built-in tools such as `web_search`, reasoning items) is dropped and named, for one debug line.
 */
import type { Json } from "../openai.ts"

export interface TranslatedRequest {
  /** The Chat Completions body (model filled in by the caller). */
  readonly body: Json
  /** The conversation this request adds, instructions left out: what a later `previous_response_id` continues. */
  readonly turns: ReadonlyArray<Json>
  /** Fields and items that had no Chat Completions counterpart, by name. */
  readonly dropped: ReadonlyArray<string>
}

const textParts = new Set(["input_text", "output_text", "text"])

/** A message item's content as Chat Completions content: a string, or text and image parts. */
const contentOf = (content: unknown, dropped: Array<string>): string | Array<Json> => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  const parts = (content as Array<Json>).flatMap((part): Array<Json> => {
    if (textParts.has(String(part.type))) return [{ type: "text", text: String(part.text ?? "") }]
    if (part.type === "refusal") return [{ type: "text", text: String(part.refusal ?? "") }]
    if (part.type === "input_image" && typeof part.image_url === "string") {
      return [{
        type: "image_url",
        image_url: { url: part.image_url, ...(part.detail !== undefined ? { detail: part.detail } : {}) }
      }]
    }
    dropped.push(`input content part ${String(part.type)}`)
    return []
  })
  return parts.every((part) => part.type === "text") ? parts.map((part) => String(part.text)).join("") : parts
}

/** `input` as chat messages: consecutive function calls become one assistant turn with several tool calls. */
const turnsOf = (input: unknown, dropped: Array<string>): Array<Json> => {
  if (typeof input === "string") return [{ role: "user", content: input }]
  const turns: Array<Json> = []
  for (const item of (input as Array<Json> | undefined) ?? []) {
    const type = item.type ?? "message"
    if (type === "message") {
      const role = item.role === "developer" ? "developer" : String(item.role)
      turns.push({ role, content: contentOf(item.content, dropped) })
    } else if (type === "function_call") {
      const call = {
        id: String(item.call_id),
        type: "function",
        function: { name: String(item.name), arguments: String(item.arguments ?? "") }
      }
      const last = turns[turns.length - 1]
      if (last?.role === "assistant" && Array.isArray(last.tool_calls)) (last.tool_calls as Array<Json>).push(call)
      else turns.push({ role: "assistant", content: null, tool_calls: [call] })
    } else if (type === "function_call_output") {
      const output = typeof item.output === "string" ? item.output : contentOf(item.output, dropped)
      turns.push({ role: "tool", tool_call_id: String(item.call_id), content: output })
    } else {
      dropped.push(`input item ${String(type)}`)
    }
  }
  return turns
}

const toolChoiceOf = (choice: unknown): unknown => {
  if (typeof choice === "string") return choice
  if (typeof choice === "object" && choice !== null && (choice as Json).type === "function") {
    return { type: "function", function: { name: (choice as Json).name } }
  }
  return undefined
}

const formatOf = (text: unknown): unknown => {
  const format = (text as Json | undefined)?.format as Json | undefined
  if (format === undefined || format.type === "text") return undefined
  if (format.type === "json_schema") {
    const { type: _type, ...schema } = format
    return { type: "json_schema", json_schema: schema }
  }
  return { type: format.type }
}

/** Fields with the same name and meaning in both APIs. */
const sameFields = [
  "temperature",
  "top_p",
  "parallel_tool_calls",
  "user",
  "service_tier",
  "prompt_cache_key",
  "safety_identifier"
] as const

/** Fields of the Responses API the gateway itself handles, so they are not "dropped". */
const handled = new Set([
  "model",
  "input",
  "instructions",
  "tools",
  "tool_choice",
  "text",
  "reasoning",
  "max_output_tokens",
  "stream",
  "stream_options",
  "store",
  "previous_response_id",
  "metadata",
  "include",
  "truncation",
  "background",
  ...sameFields
])

/**
 * Translates a checked Responses body. `history` is the stored conversation `previous_response_id` points at;
 * `instructions` are never carried over from it (the Responses API's own rule).
 */
export const fromResponsesRequest = (body: Json, history: ReadonlyArray<Json>): TranslatedRequest => {
  const dropped: Array<string> = []
  const turns = turnsOf(body.input, dropped)
  const instructions = typeof body.instructions === "string" && body.instructions !== ""
    ? [{ role: "system", content: body.instructions }]
    : []
  const tools = ((body.tools as Array<Json> | undefined) ?? []).flatMap((tool) => {
    if (tool.type !== "function") {
      dropped.push(`tool ${String(tool.type)}`)
      return []
    }
    const { type: _type, ...definition } = tool
    return [{ type: "function", function: definition }]
  })
  const toolChoice = toolChoiceOf(body.tool_choice)
  const responseFormat = formatOf(body.text)
  const effort = (body.reasoning as Json | undefined)?.effort
  const chat: Json = {
    model: body.model,
    messages: [...instructions, ...history, ...turns],
    ...(tools.length > 0 ? { tools } : {}),
    ...(tools.length > 0 && toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
    ...(responseFormat !== undefined ? { response_format: responseFormat } : {}),
    ...(typeof effort === "string" ? { reasoning_effort: effort } : {}),
    ...(typeof body.max_output_tokens === "number" ? { max_tokens: body.max_output_tokens } : {}),
    ...(body.stream === true ? { stream: true, stream_options: { include_usage: true } } : {})
  }
  for (const field of sameFields) if (body[field] !== undefined && body[field] !== null) chat[field] = body[field]
  for (const field of Object.keys(body)) if (!handled.has(field)) dropped.push(field)
  return { body: chat, turns, dropped }
}
