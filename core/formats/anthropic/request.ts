/**
 * Anthropic Messages requests ⇄ OpenAI Chat Completions requests, without losing structure: system prompt,
 * multi-turn history, images, tool definitions, tool calls and results. The anthropic provider sends the
 * OpenAI → Anthropic direction upstream; `POST /v1/messages` reads the other.
 */
import { type Json, type OpenAIMessage, textOf } from "../openai.ts"
import { outputConfigOf, parallelToolCallsOf, responseFormatOf, withParallelToolUse } from "./options.ts"
import { type Block, type CanonicalReasoning, parseArguments } from "./wire.ts"

// Which fields each direction drops has a file of its own; the providers take it from here, beside the translation.
export { untranslatedFields } from "./untranslated.ts"

// ---- OpenAI request → Anthropic request (the anthropic provider) ----

const imageBlock = (url: string): Block => {
  const data = /^data:([^;]+);base64,(.*)$/s.exec(url)
  return data
    ? { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } }
    : { type: "image", source: { type: "url", url } }
}

const toBlocks = (content: unknown): Array<Block> => {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }]
  if (!Array.isArray(content)) return []
  return content.flatMap((part: Json): Array<Block> => {
    if (part.type === "text") return [{ type: "text", text: String(part.text ?? "") }]
    if (part.type === "image_url") return [imageBlock(String((part.image_url as Json | undefined)?.url ?? ""))]
    return []
  })
}

/**
 * An earlier answer's thinking, sent back as it came (fromAnthropicMessage keeps it): Anthropic wants it on the
 * assistant turn of a tool loop. Reasoning without a signature (another provider's) would be refused: left out.
 */
const thinkingBlocks = (message: OpenAIMessage & CanonicalReasoning): Array<Block> => [
  ...(typeof message.reasoning_signature === "string" && message.reasoning_signature !== ""
    ? [{ type: "thinking", thinking: String(message.reasoning_content ?? ""), signature: message.reasoning_signature }]
    : []),
  ...(message.reasoning_redacted ?? []).map((data): Block => ({ type: "redacted_thinking", data }))
]

/** OpenAI messages (system ones aside) → Anthropic turns, tool calls and results as blocks. */
const anthropicTurns = (messages: ReadonlyArray<OpenAIMessage>) => {
  const turns: Array<{ role: "user" | "assistant"; content: Array<Block> }> = []
  const append = (role: "user" | "assistant", blocks: Array<Block>) => {
    const last = turns[turns.length - 1]
    // Anthropic wants user and assistant turns to alternate: consecutive ones of a role become one.
    if (last && last.role === role) last.content.push(...blocks)
    else turns.push({ role, content: blocks })
  }
  for (const message of messages) {
    if (message.role === "user") append("user", toBlocks(message.content))
    else if (message.role === "assistant") {
      append("assistant", [
        ...thinkingBlocks(message),
        ...toBlocks(message.content),
        ...(message.tool_calls ?? []).map((call): Block => ({
          type: "tool_use",
          id: call.id,
          name: call.function.name,
          input: parseArguments(call.function.arguments)
        }))
      ])
    } else if (message.role === "tool" || message.role === "function") {
      append("user", [{
        type: "tool_result",
        tool_use_id: message.tool_call_id ?? message.name ?? "",
        content: textOf(message.content)
      }])
    }
  }
  return turns
}

/** `tools` and `tool_choice` → Anthropic's `tools` and `tool_choice`, each only when the request set it. */
const anthropicTools = (body: Json): Json => {
  const tools = (body.tools as Array<{ function: Json }> | undefined)?.map((tool) => ({
    name: tool.function.name,
    ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
    input_schema: tool.function.parameters ?? { type: "object", properties: {} }
  }))
  const choice = body.tool_choice
  const named = choice === "auto"
    ? { type: "auto" }
    : choice === "required"
    ? { type: "any" }
    : choice === "none"
    ? { type: "none" }
    : typeof choice === "object" && choice !== null
    ? { type: "tool", name: ((choice as Json).function as Json).name }
    : undefined
  const toolChoice = tools && tools.length > 0 ? withParallelToolUse(body, named) : named
  return {
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {})
  }
}

/** An OpenAI Chat Completions request body → an Anthropic Messages request body for `options.model`. */
export const toAnthropicRequest = (body: Json, options: { model: string; stream: boolean }): Json => {
  const messages = (body.messages as Array<OpenAIMessage>) ?? []
  const system = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => textOf(m.content))
  const stop = body.stop === undefined || body.stop === null
    ? undefined
    : Array.isArray(body.stop)
    ? body.stop
    : [body.stop]
  const maxTokens = Number(body.max_completion_tokens ?? body.max_tokens ?? 4096)
  const budget = typeof body.reasoning_effort === "string" ? thinkingBudget[body.reasoning_effort] : undefined
  // Extended thinking needs a budget of at least 1024 tokens below max_tokens, and takes no temperature.
  const thinking = budget !== undefined && maxTokens > 1024
    ? { type: "enabled", budget_tokens: Math.min(budget, maxTokens - 1) }
    : undefined
  return {
    model: options.model,
    max_tokens: maxTokens,
    messages: anthropicTurns(messages),
    ...(thinking ? { thinking } : {}),
    ...(typeof body.user === "string" ? { metadata: { user_id: body.user } } : {}),
    ...(system.length > 0 ? { system: system.join("\n\n") } : {}),
    ...anthropicTools(body),
    ...outputConfigOf(body),
    ...(typeof body.temperature === "number" && !thinking ? { temperature: Math.min(1, body.temperature) } : {}),
    ...(typeof body.top_p === "number" ? { top_p: body.top_p } : {}),
    ...(stop ? { stop_sequences: stop } : {}),
    ...(options.stream ? { stream: true } : {})
  }
}

/** `reasoning_effort` → a thinking budget in tokens. */
const thinkingBudget: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 24576 }

/** A thinking budget → the nearest `reasoning_effort`. */
const effortOf = (thinking: unknown): string | undefined => {
  const config = thinking as Json | undefined
  if (config?.type === "adaptive") return "medium"
  if (config?.type !== "enabled") return undefined
  const budget = Number(config.budget_tokens ?? 0)
  return budget < 4096 ? "low" : budget < 16384 ? "medium" : "high"
}

// ---- Anthropic request → OpenAI request (POST /v1/messages) ----

const toParts = (blocks: Array<Block>): string | Array<Json> => {
  if (blocks.every((b) => b.type === "text")) return blocks.map((b) => String(b.text)).join("")
  return blocks.flatMap((b): Array<Json> => {
    if (b.type === "text") return [{ type: "text", text: b.text }]
    if (b.type === "image") {
      const source = b.source as Json
      const url = source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : String(source.url)
      return [{ type: "image_url", image_url: { url } }]
    }
    return []
  })
}

const blocksOf = (content: unknown): Array<Block> =>
  typeof content === "string"
    ? [{ type: "text", text: content }]
    : Array.isArray(content)
    ? (content as Array<Block>)
    : []

/** A system prompt's text: its text blocks are separate paragraphs (Claude Code sends several), not one run-on line. */
const systemText = (system: unknown) =>
  typeof system === "string"
    ? system
    : blocksOf(system).filter((b) => b.type === "text").map((b) => String(b.text)).join("\n\n")

/** An assistant turn → one OpenAI assistant message: its text, and its tool uses as tool calls. */
const assistantMessage = (blocks: Array<Block>): Json => {
  const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text)).join("")
  const calls = blocks.filter((b) => b.type === "tool_use").map((b) => ({
    id: b.id,
    type: "function",
    function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) }
  }))
  return {
    role: "assistant",
    content: text === "" && calls.length > 0 ? null : text,
    ...(calls.length > 0 ? { tool_calls: calls } : {})
  }
}

/** The system prompt and the turns → OpenAI messages; a user turn's tool results become `tool` messages. */
const openAIMessages = (body: Json): Array<Json> => {
  const messages: Array<Json> = []
  const system = body.system === undefined ? "" : systemText(body.system)
  if (system !== "") messages.push({ role: "system", content: system })
  for (const turn of (body.messages as Array<{ role: string; content: unknown }>) ?? []) {
    const blocks = blocksOf(turn.content)
    if (turn.role === "system") {
      // A system turn in the conversation (Claude Code 2.x) stays where it was sent.
      messages.push({ role: "system", content: systemText(turn.content) })
      continue
    }
    if (turn.role === "assistant") {
      messages.push(assistantMessage(blocks))
      continue
    }
    for (const result of blocks.filter((b) => b.type === "tool_result")) {
      messages.push({
        role: "tool",
        tool_call_id: result.tool_use_id,
        content: textOf(typeof result.content === "string" ? result.content : blocksOf(result.content))
      })
    }
    const rest = blocks.filter((b) => b.type !== "tool_result")
    if (rest.length > 0 || blocks.length === 0) messages.push({ role: "user", content: toParts(rest) })
  }
  return messages
}

/** Anthropic's `tools` and `tool_choice` → the Chat Completions ones, each only when the request set it. */
const openAITools = (body: Json): Json => {
  const choice = body.tool_choice as Json | undefined
  const toolChoice = choice?.type === "auto"
    ? "auto"
    : choice?.type === "any"
    ? "required"
    : choice?.type === "none"
    ? "none"
    : choice?.type === "tool"
    ? { type: "function", function: { name: choice.name } }
    : undefined
  // Only client tools have a Chat Completions counterpart; server tools run at Anthropic (dropped, as a field is).
  const tools = (body.tools as Array<Json> | undefined)?.filter((tool) =>
    (tool.type === undefined || tool.type === "custom") && typeof tool.name === "string"
  ).map((tool) => ({
    type: "function",
    function: {
      name: tool.name,
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      parameters: tool.input_schema
    }
  }))
  return {
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
    ...parallelToolCallsOf(body, tools !== undefined && tools.length > 0)
  }
}

/** An Anthropic Messages request body (`POST /v1/messages`) → an OpenAI Chat Completions request body. */
export const fromAnthropicRequest = (body: Json): Json => ({
  model: body.model,
  messages: openAIMessages(body),
  max_tokens: body.max_tokens,
  ...openAITools(body),
  ...responseFormatOf(body),
  ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
  ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
  ...(body.stop_sequences !== undefined ? { stop: body.stop_sequences } : {}),
  ...(effortOf(body.thinking) !== undefined ? { reasoning_effort: effortOf(body.thinking) } : {}),
  ...(typeof (body.metadata as Json | undefined)?.user_id === "string"
    ? { user: (body.metadata as Json).user_id }
    : {}),
  ...(body.stream === true ? { stream: true, stream_options: { include_usage: true } } : {})
})
