/** Streamed answers, one event at a time: Anthropic's SSE events ⇄ OpenAI `chat.completion.chunk`s. */
import type { Json } from "../openai.ts"
import {
  type AnthropicStreamEvent,
  type AnthropicUsage,
  finishFromAnthropic,
  type OpenAIChunk,
  stopFromOpenAI,
  usageFromAnthropic,
  usageToAnthropic
} from "./wire.ts"

/** Anthropic's stream events → OpenAI chunks, one event at a time. */
export const anthropicStreamToOpenAI = (includeUsage: boolean, usageUpFront = false) => {
  let head = { id: "", model: "", created: Math.floor(Date.now() / 1000) }
  let inputUsage: AnthropicUsage = {}
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
      const event = JSON.parse(data) as AnthropicStreamEvent
      switch (event.type) {
        case "message_start": {
          head = { ...head, id: String(event.message?.id ?? ""), model: String(event.message?.model ?? "") }
          inputUsage = event.message?.usage ?? {}
          // The input figures are known from the start here. For an Anthropic client they travel with the first
          // chunk too (and again in the final one), so it reads them in `message_start`, as from Anthropic itself;
          // an OpenAI client gets usage once, at the end, as it expects (some add up usage across chunks).
          return [
            includeUsage && usageUpFront
              ? { ...chunk({ role: "assistant", content: "" }), usage: usageFromAnthropic(inputUsage, 0) }
              : chunk({ role: "assistant", content: "" })
          ]
        }
        case "content_block_start": {
          const block = event.content_block
          if (block?.type === "redacted_thinking") return [chunk({ reasoning_redacted: [String(block.data ?? "")] })]
          if (block?.type !== "tool_use") return []
          toolIndex++
          return [
            chunk({
              tool_calls: [{
                index: toolIndex,
                id: block.id,
                type: "function",
                function: { name: block.name, arguments: "" }
              }]
            })
          ]
        }
        case "content_block_delta": {
          const delta = event.delta
          if (delta?.type === "text_delta") return [chunk({ content: delta.text })]
          if (delta?.type === "thinking_delta") return [chunk({ reasoning_content: delta.thinking })]
          if (delta?.type === "signature_delta") return [chunk({ reasoning_signature: delta.signature })]
          if (delta?.type === "input_json_delta") {
            return [chunk({ tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] })]
          }
          return []
        }
        case "message_delta": {
          outputTokens = Number(event.usage?.output_tokens ?? outputTokens)
          // The current API repeats the input figures here, final ones; older answers only had them at the start.
          if (event.usage?.input_tokens !== undefined && event.usage.input_tokens !== null) {
            inputUsage = { ...inputUsage, ...event.usage }
          }
          const reason = event.delta?.stop_reason
          return reason ? [chunk({}, finishFromAnthropic[String(reason)] ?? "stop")] : []
        }
        case "message_stop":
          stopped = true
          return includeUsage
            ? [{
              ...chunk({}),
              choices: [],
              usage: usageFromAnthropic(inputUsage, outputTokens)
            }]
            : []
        case "error":
          return [{
            error: {
              message: String(event.error?.message ?? "upstream error"),
              type: "upstream_error"
            }
          }]
        default:
          return []
      }
    },
    /** True once `message_stop` came: the only sign that the answer is whole. */
    finished: () => stopped
  }
}

/**
 * OpenAI chunks → Anthropic's stream events, for `/v1/messages` clients. A stream ends either finished
 * (`message_delta` with its stop reason, then `message_stop`) or with one `error` event, and nothing after either.
 */
export const openAIStreamToAnthropic = () => {
  let started = false
  let over = false
  /** `call`: which tool call a tool block is (its index, or its id when a server sends none). */
  let open: { index: number; kind: "text" | "tool" | "thinking"; call?: number | string } | undefined
  let nextIndex = 0
  // Unset until a finish reason arrives: a stream without one did not finish, whatever came before.
  let stopReason: string | undefined
  let usage: Json = { input_tokens: 0, output_tokens: 0 }
  let usageKnown = false
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
    onChunk(chunk: OpenAIChunk): Array<{ event: string; data: Json }> {
      if (over) return []
      if (chunk.error) {
        const error = chunk.error
        const message = typeof error === "string" ? error : error.message
        return fail(typeof message === "string" ? message : "upstream error")
      }
      const out: Array<{ event: string; data: Json }> = []
      if (!started) {
        started = true
        // Input tokens known up front (an Anthropic upstream, a cached answer) are in `message_start`.
        if (chunk.usage) usage = usageToAnthropic(chunk.usage as Json)
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
        usageKnown = true
        const u = chunk.usage
        usage = usageToAnthropic(u as Json)
      }
      for (const choice of chunk.choices ?? []) {
        const delta = choice.delta ?? {}
        // Thinking (from an Anthropic upstream, or an OpenAI-compatible server's reasoning) comes before the text.
        if (typeof delta.reasoning_content === "string" && delta.reasoning_content !== "") {
          if (open?.kind !== "thinking") {
            out.push(...close())
            open = { index: nextIndex++, kind: "thinking" }
            out.push(
              event("content_block_start", {
                index: open.index,
                content_block: { type: "thinking", thinking: "", signature: "" }
              })
            )
          }
          out.push(event("content_block_delta", {
            index: open.index,
            delta: { type: "thinking_delta", thinking: delta.reasoning_content }
          }))
        }
        if (typeof delta.reasoning_signature === "string" && open?.kind === "thinking") {
          out.push(event("content_block_delta", {
            index: open.index,
            delta: { type: "signature_delta", signature: delta.reasoning_signature }
          }))
        }
        for (const data of delta.reasoning_redacted ?? []) {
          out.push(...close())
          const index = nextIndex++
          out.push(
            event("content_block_start", { index, content_block: { type: "redacted_thinking", data } }),
            event("content_block_stop", { index })
          )
        }
        if (typeof delta.content === "string" && delta.content !== "") {
          if (open?.kind !== "text") {
            out.push(...close())
            open = { index: nextIndex++, kind: "text" }
            out.push(event("content_block_start", { index: open.index, content_block: { type: "text", text: "" } }))
          }
          out.push(
            event("content_block_delta", { index: open.index, delta: { type: "text_delta", text: delta.content } })
          )
        }
        for (const call of delta.tool_calls ?? []) {
          const fn = call.function ?? {}
          const which = call.index ?? call.id
          // A call starts with its id; a server that repeats the id on every piece is still sending the same call.
          if (call.id && !(open?.kind === "tool" && open.call === which)) {
            out.push(...close())
            open = { index: nextIndex++, kind: "tool", call: which }
            const block = { type: "tool_use", id: call.id, name: fn.name, input: {} }
            out.push(event("content_block_start", { index: open.index, content_block: block }))
          }
          if (typeof fn.arguments === "string" && fn.arguments !== "" && open) {
            out.push(
              event("content_block_delta", {
                index: open.index,
                delta: { type: "input_json_delta", partial_json: fn.arguments }
              })
            )
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
        event("message_delta", {
          delta: { stop_reason: stopReason, stop_sequence: null },
          // Input tokens are known only once the upstream's usage chunk came (after the text): they go here, where
          // the SDKs take them as the whole message's count, rather than as 0 in `message_start`.
          usage: usageKnown ? { ...usage } : { output_tokens: usage.output_tokens }
        }),
        event("message_stop", {})
      ]
    },
    /** The stream failed another way (broke off, ended without `[DONE]`, not JSON): one error event ends it. */
    fail
  }
}
