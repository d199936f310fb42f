/** Whole (non-streamed) answers: an Anthropic message ⇄ an OpenAI `chat.completion`. */
import type { Completion, ToolCall } from "../../domain/Completion.ts"
import type { Json } from "../openai.ts"
import {
  type AnthropicMessage,
  type Block,
  type CanonicalReasoning,
  finishFromAnthropic,
  parseArguments,
  stopFromOpenAI,
  usageFromAnthropic,
  usageToAnthropic
} from "./wire.ts"

// ---- Anthropic response → OpenAI completion ----

export const fromAnthropicMessage = (message: AnthropicMessage): Completion => {
  const blocks = message.content ?? []
  const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text)).join("")
  const toolCalls = blocks.filter((b) => b.type === "tool_use").map((b): ToolCall => ({
    id: String(b.id),
    type: "function",
    function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) }
  }))
  const thinking = blocks.filter((b) => b.type === "thinking")
  const redacted = blocks.filter((b) => b.type === "redacted_thinking").map((b) => String(b.data ?? ""))
  const reasoning: CanonicalReasoning = {
    ...(thinking.length > 0 ? { reasoning_content: thinking.map((b) => String(b.thinking ?? "")).join("") } : {}),
    ...(thinking.some((b) => b.signature) ? { reasoning_signature: String(thinking.at(-1)!.signature ?? "") } : {}),
    ...(redacted.length > 0 ? { reasoning_redacted: redacted } : {})
  }
  return {
    id: String(message.id),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: String(message.model),
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: text === "" && toolCalls.length > 0 ? null : text,
        ...reasoning,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
      },
      finish_reason: finishFromAnthropic[String(message.stop_reason)] ?? "stop"
    }],
    usage: usageFromAnthropic(message.usage)
  }
}

// ---- OpenAI completion → Anthropic response (POST /v1/messages) ----

export const toAnthropicMessage = (completion: Completion): AnthropicMessage & Json => {
  const choice = completion.choices[0]
  const content: Array<Block> = []
  const reasoning = (choice?.message ?? {}) as CanonicalReasoning
  // Thinking comes first, as Anthropic sends it, with its signature: a client sends it back on the next turn.
  if (reasoning.reasoning_content !== undefined) {
    content.push({
      type: "thinking",
      thinking: reasoning.reasoning_content,
      signature: reasoning.reasoning_signature ?? ""
    })
  }
  for (const data of reasoning.reasoning_redacted ?? []) content.push({ type: "redacted_thinking", data })
  if (choice?.message.content) content.push({ type: "text", text: choice.message.content })
  for (const call of choice?.message.tool_calls ?? []) {
    content.push({
      type: "tool_use",
      id: call.id,
      name: call.function.name,
      input: parseArguments(call.function.arguments)
    })
  }
  return {
    id: completion.id.startsWith("msg_") ? completion.id : `msg_${completion.id}`,
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: stopFromOpenAI[choice?.finish_reason ?? "stop"] ?? "end_turn",
    stop_sequence: null,
    usage: usageToAnthropic(completion.usage)
  }
}
