/**
 * Anthropic Messages ⇄ OpenAI Chat Completions, both ways and for streams, without losing structure: system
 * prompt, multi-turn history, images, tool definitions, tool calls and results, stop reasons and usage.
 * The anthropic provider uses the OpenAI → Anthropic direction; `POST /v1/messages` uses the other.
 */
import type { Completion, ToolCall } from "../Completion.ts"
import { type Json, type OpenAIMessage, textOf } from "./openaiMessages.ts"

type Block = Json & { type: string }

const parseArguments = (text: string): unknown => {
  try {
    return text.trim() === "" ? {} : JSON.parse(text)
  } catch {
    return { _raw: text }
  }
}

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

export const toAnthropicRequest = (body: Json, options: { model: string; stream: boolean }): Json => {
  const messages = (body.messages as Array<OpenAIMessage>) ?? []
  const system = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => textOf(m.content))
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
        ...toBlocks(message.content),
        ...(message.tool_calls ?? []).map((call): Block => ({
          type: "tool_use",
          id: call.id,
          name: call.function.name,
          input: parseArguments(call.function.arguments)
        }))
      ])
    } else if (message.role === "tool" || message.role === "function") {
      append("user", [{ type: "tool_result", tool_use_id: message.tool_call_id ?? message.name ?? "", content: textOf(message.content) }])
    }
  }
  const tools = (body.tools as Array<{ function: Json }> | undefined)?.map((tool) => ({
    name: tool.function.name,
    ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
    input_schema: tool.function.parameters ?? { type: "object", properties: {} }
  }))
  const choice = body.tool_choice
  const toolChoice = choice === "auto"
    ? { type: "auto" }
    : choice === "required"
    ? { type: "any" }
    : choice === "none"
    ? { type: "none" }
    : typeof choice === "object" && choice !== null
    ? { type: "tool", name: ((choice as Json).function as Json).name }
    : undefined
  const stop = body.stop === undefined || body.stop === null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop]
  return {
    model: options.model,
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? 4096,
    messages: turns,
    ...(system.length > 0 ? { system: system.join("\n\n") } : {}),
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    ...(typeof body.temperature === "number" ? { temperature: Math.min(1, body.temperature) } : {}),
    ...(typeof body.top_p === "number" ? { top_p: body.top_p } : {}),
    ...(stop ? { stop_sequences: stop } : {}),
    ...(options.stream ? { stream: true } : {})
  }
}

// ---- Anthropic response → OpenAI completion ----

const finishFromAnthropic: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter"
}

export const fromAnthropicMessage = (message: Json): Completion => {
  const blocks = (message.content as Array<Block>) ?? []
  const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text)).join("")
  const toolCalls = blocks.filter((b) => b.type === "tool_use").map((b): ToolCall => ({
    id: String(b.id),
    type: "function",
    function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) }
  }))
  const usage = (message.usage as Json | undefined) ?? {}
  const input = Number(usage.input_tokens ?? 0)
  const output = Number(usage.output_tokens ?? 0)
  return {
    id: String(message.id),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: String(message.model),
    choices: [{
      index: 0,
      message: { role: "assistant", content: text === "" && toolCalls.length > 0 ? null : text, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
      finish_reason: finishFromAnthropic[String(message.stop_reason)] ?? "stop"
    }],
    usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output }
  }
}

/** Anthropic's stream events → OpenAI chunks, one event at a time. */
export const anthropicStreamToOpenAI = (includeUsage: boolean) => {
  let head = { id: "", model: "", created: Math.floor(Date.now() / 1000) }
  let inputTokens = 0
  let outputTokens = 0
  let toolIndex = -1
  let stopped = false
  const chunk = (delta: Json, finish: string | null = null) => ({
    id: head.id,
    object: "chat.completion.chunk",
    created: head.created,
    model: head.model,
    choices: [{ index: 0, delta, finish_reason: finish }]
  })
  return {
    onEvent(data: string): Array<unknown> {
      const event = JSON.parse(data) as Json & { type: string }
      switch (event.type) {
        case "message_start": {
          const message = event.message as Json
          head = { ...head, id: String(message.id), model: String(message.model) }
          inputTokens = Number((message.usage as Json | undefined)?.input_tokens ?? 0)
          return [chunk({ role: "assistant", content: "" })]
        }
        case "content_block_start": {
          const block = event.content_block as Block
          if (block.type !== "tool_use") return []
          toolIndex++
          return [chunk({ tool_calls: [{ index: toolIndex, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })]
        }
        case "content_block_delta": {
          const delta = event.delta as Json
          if (delta.type === "text_delta") return [chunk({ content: delta.text })]
          if (delta.type === "input_json_delta") {
            return [chunk({ tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] })]
          }
          return []
        }
        case "message_delta": {
          outputTokens = Number((event.usage as Json | undefined)?.output_tokens ?? outputTokens)
          const reason = (event.delta as Json | undefined)?.stop_reason
          return reason ? [chunk({}, finishFromAnthropic[String(reason)] ?? "stop")] : []
        }
        case "message_stop":
          stopped = true
          return includeUsage
            ? [{ ...chunk({}), choices: [], usage: { prompt_tokens: inputTokens, completion_tokens: outputTokens, total_tokens: inputTokens + outputTokens } }]
            : []
        case "error":
          return [{ error: { message: String((event.error as Json | undefined)?.message ?? "upstream error"), type: "upstream_error" } }]
        default:
          return []
      }
    },
    /** True once `message_stop` came: the only sign that the answer is whole. */
    finished: () => stopped
  }
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
  typeof content === "string" ? [{ type: "text", text: content }] : Array.isArray(content) ? (content as Array<Block>) : []

export const fromAnthropicRequest = (body: Json): Json => {
  const messages: Array<Json> = []
  const system = body.system === undefined ? "" : textOf(typeof body.system === "string" ? body.system : blocksOf(body.system))
  if (system !== "") messages.push({ role: "system", content: system })
  for (const turn of (body.messages as Array<{ role: string; content: unknown }>) ?? []) {
    const blocks = blocksOf(turn.content)
    if (turn.role === "assistant") {
      const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text)).join("")
      const calls = blocks.filter((b) => b.type === "tool_use").map((b) => ({
        id: b.id,
        type: "function",
        function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) }
      }))
      messages.push({ role: "assistant", content: text === "" && calls.length > 0 ? null : text, ...(calls.length > 0 ? { tool_calls: calls } : {}) })
      continue
    }
    for (const result of blocks.filter((b) => b.type === "tool_result")) {
      messages.push({ role: "tool", tool_call_id: result.tool_use_id, content: textOf(typeof result.content === "string" ? result.content : blocksOf(result.content)) })
    }
    const rest = blocks.filter((b) => b.type !== "tool_result")
    if (rest.length > 0 || blocks.length === 0) messages.push({ role: "user", content: toParts(rest) })
  }
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
  const tools = (body.tools as Array<Json> | undefined)?.map((tool) => ({
    type: "function",
    function: {
      name: tool.name,
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      parameters: tool.input_schema
    }
  }))
  return {
    model: body.model,
    messages,
    max_tokens: body.max_tokens,
    ...(tools && tools.length > 0 ? { tools } : {}),
    ...(toolChoice !== undefined ? { tool_choice: toolChoice } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(body.stop_sequences !== undefined ? { stop: body.stop_sequences } : {}),
    ...(body.stream === true ? { stream: true, stream_options: { include_usage: true } } : {})
  }
}

// ---- OpenAI completion → Anthropic response (POST /v1/messages) ----

const stopFromOpenAI: Record<string, string> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  function_call: "tool_use",
  content_filter: "refusal"
}

export const toAnthropicMessage = (completion: Completion): Json => {
  const choice = completion.choices[0]
  const content: Array<Block> = []
  if (choice?.message.content) content.push({ type: "text", text: choice.message.content })
  for (const call of choice?.message.tool_calls ?? []) {
    content.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) })
  }
  return {
    id: completion.id.startsWith("msg_") ? completion.id : `msg_${completion.id}`,
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: stopFromOpenAI[choice?.finish_reason ?? "stop"] ?? "end_turn",
    stop_sequence: null,
    usage: { input_tokens: completion.usage?.prompt_tokens ?? 0, output_tokens: completion.usage?.completion_tokens ?? 0 }
  }
}

/**
 * OpenAI chunks → Anthropic's stream events, for `/v1/messages` clients. A stream ends either finished
 * (`message_delta` with its stop reason, then `message_stop`) or with one `error` event, and nothing after either.
 */
export const openAIStreamToAnthropic = () => {
  let started = false
  let over = false
  let open: { index: number; kind: "text" | "tool" } | undefined
  let nextIndex = 0
  // Unset until a finish reason arrives: a stream without one did not finish, whatever came before.
  let stopReason: string | undefined
  let usage = { input_tokens: 0, output_tokens: 0 }
  const event = (type: string, data: Json) => ({ event: type, data: { type, ...data } })
  const close = () => {
    if (!open) return []
    const index = open.index
    open = undefined
    return [event("content_block_stop", { index })]
  }
  const fail = (message: string): Array<{ event: string; data: Json }> => {
    if (over) return []
    over = true
    return [event("error", { error: { type: "api_error", message } })]
  }
  return {
    onChunk(chunk: Json): Array<{ event: string; data: Json }> {
      if (over) return []
      if (chunk.error) {
        const error = chunk.error as Json | string | null
        const message = typeof error === "string" ? error : error?.message
        return fail(typeof message === "string" ? message : "upstream error")
      }
      const out: Array<{ event: string; data: Json }> = []
      if (!started) {
        started = true
        const id = String(chunk.id ?? "")
        out.push(event("message_start", {
          message: {
            id: id.startsWith("msg_") ? id : `msg_${id}`,
            type: "message",
            role: "assistant",
            model: chunk.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage
          }
        }))
      }
      if (chunk.usage) {
        const u = chunk.usage as Json
        usage = { input_tokens: Number(u.prompt_tokens ?? 0), output_tokens: Number(u.completion_tokens ?? 0) }
      }
      for (const choice of (chunk.choices as Array<Json> | undefined) ?? []) {
        const delta = (choice.delta as Json | undefined) ?? {}
        if (typeof delta.content === "string" && delta.content !== "") {
          if (open?.kind !== "text") {
            out.push(...close())
            open = { index: nextIndex++, kind: "text" }
            out.push(event("content_block_start", { index: open.index, content_block: { type: "text", text: "" } }))
          }
          out.push(event("content_block_delta", { index: open.index, delta: { type: "text_delta", text: delta.content } }))
        }
        for (const call of (delta.tool_calls as Array<Json> | undefined) ?? []) {
          const fn = (call.function as Json | undefined) ?? {}
          if (call.id) {
            out.push(...close())
            open = { index: nextIndex++, kind: "tool" }
            const block = { type: "tool_use", id: call.id, name: fn.name, input: {} }
            out.push(event("content_block_start", { index: open.index, content_block: block }))
          }
          if (typeof fn.arguments === "string" && fn.arguments !== "" && open) {
            out.push(event("content_block_delta", { index: open.index, delta: { type: "input_json_delta", partial_json: fn.arguments } }))
          }
        }
        if (typeof choice.finish_reason === "string") stopReason = stopFromOpenAI[choice.finish_reason] ?? "end_turn"
      }
      return out
    },
    /** The OpenAI stream said `[DONE]`: the closing events, or an error when no finish reason ever came. */
    onEnd(): Array<{ event: string; data: Json }> {
      if (over) return []
      if (!started || stopReason === undefined) return fail("upstream stream ended before the answer was finished")
      over = true
      return [
        ...close(),
        event("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }),
        event("message_stop", {})
      ]
    },
    /** The stream failed another way (broke off, ended without `[DONE]`, not JSON): one error event ends it. */
    fail
  }
}
