/** Whole (non-streamed) answers: an Anthropic message ⇄ an OpenAI `chat.completion`. */
import type { Completion, ToolCall } from "../../domain/Completion.ts"
import type { Json } from "../openai.ts"
import { type AnthropicMessage, type Block, finishFromAnthropic, parseArguments, stopFromOpenAI } from "./wire.ts"

// ---- Anthropic response → OpenAI completion ----

export const fromAnthropicMessage = (message: AnthropicMessage): Completion => {
  const blocks = message.content ?? []
  const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text)).join("")
  const toolCalls = blocks.filter((b) => b.type === "tool_use").map((b): ToolCall => ({
    id: String(b.id),
    type: "function",
    function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) }
  }))
  const input = Number(message.usage?.input_tokens ?? 0)
  const output = Number(message.usage?.output_tokens ?? 0)
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
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
      },
      finish_reason: finishFromAnthropic[String(message.stop_reason)] ?? "stop"
    }],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output }
  }
}

// ---- OpenAI completion → Anthropic response (POST /v1/messages) ----

export const toAnthropicMessage = (completion: Completion): AnthropicMessage & Json => {
  const choice = completion.choices[0]
  const content: Array<Block> = []
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
    usage: {
      input_tokens: completion.usage?.prompt_tokens ?? 0,
      output_tokens: completion.usage?.completion_tokens ?? 0
    }
  }
}
