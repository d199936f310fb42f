import type { ServerResponse } from "node:http"
import type { WireFormat } from "./fakeErrors.ts"
import { completionTokens, type Json, type Reply, words } from "./fakeModel.ts"

/**
 * The fake providers' answers in each wire format, JSON and SSE, framed as each API frames them (Gemini's SSE lines
 * end in CRLF), with the faults a test can ask of a stream.
 */
/**
 * What can go wrong in a stream, after its first two words: the socket is destroyed; the stream ends cleanly with no
 * finish (no finish reason, `[DONE]` or `message_stop`); an event that is not JSON arrives (the rest follows as usual);
 * or an error event quotes the caller's key header, as a careless upstream might.
 */
export type StreamFault = "break-stream" | "truncate-stream" | "malformed-stream" | "error-event-stream"

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One SSE event as `format`'s API frames it: Gemini ends its lines with CRLF, the others with LF. */
const sse = (res: ServerResponse, format: WireFormat, data: unknown, event?: string) => {
  const eol = format === "gemini" ? "\r\n" : "\n"
  res.write(
    `${event ? `event: ${event}${eol}` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}${eol}${eol}`
  )
}

const usageOf = (reply: Reply, prompt: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completionTokens(reply),
  total_tokens: prompt + completionTokens(reply)
})

export const openAIJson = (reply: Reply, model: string, id: string, prompt: number) => ({
  id,
  object: "chat.completion",
  created: 1_700_000_000,
  model,
  system_fingerprint: "fp_fake",
  choices: [{
    index: 0,
    message: reply.kind === "text"
      ? { role: "assistant", content: reply.text, refusal: null }
      : {
        role: "assistant",
        content: null,
        refusal: null,
        tool_calls: [{
          id: reply.id,
          type: "function",
          function: { name: reply.name, arguments: JSON.stringify(reply.args) }
        }]
      },
    logprobs: null,
    finish_reason: reply.kind === "text" ? "stop" : "tool_calls"
  }],
  usage: usageOf(reply, prompt)
})

/** Acts out a fault at its point in the stream; true when the stream is over. */
const fail = (
  res: ServerResponse,
  format: WireFormat,
  fault: StreamFault | undefined,
  errorEvent: () => void
): boolean => {
  switch (fault) {
    case undefined:
      return false
    case "malformed-stream":
      sse(res, format, "{\"choices\":[{\"delta\":")
      return false
    case "break-stream":
      res.destroy()
      return true
    case "error-event-stream":
      errorEvent()
      res.end()
      return true
    case "truncate-stream":
      res.end()
      return true
  }
}

export interface StreamContext {
  readonly res: ServerResponse
  readonly format: WireFormat
  readonly reply: Reply
  readonly model: string
  readonly id: string
  readonly body: Json
  readonly fault: StreamFault | undefined
  /** What the caller authenticated with, as an upstream quoting it in an error would show it. */
  readonly credential: string
  readonly promptTokens: number
}

export const openAIStream = async (
  { body, credential, fault, format, id, model, promptTokens, reply, res }: StreamContext
) => {
  const errorEvent = () => {
    const message = `Incorrect API key provided: ${credential}`
    sse(res, format, { error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" } })
  }
  const base = { id, object: "chat.completion.chunk", created: 1_700_000_000, model, system_fingerprint: "fp_fake" }
  const delta = (d: Json, finish: string | null = null) =>
    sse(res, format, { ...base, choices: [{ index: 0, delta: d, logprobs: null, finish_reason: finish }] })
  delta({ role: "assistant", content: "", refusal: null })
  if (reply.kind === "text") {
    for (const [i, word] of words(reply.text).entries()) {
      delta({ content: word })
      if (i === 1 && fail(res, format, fault, errorEvent)) return
      await sleep(1)
    }
  } else {
    const args = JSON.stringify(reply.args)
    delta({ tool_calls: [{ index: 0, id: reply.id, type: "function", function: { name: reply.name, arguments: "" } }] })
    delta({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 5) } }] })
    delta({ tool_calls: [{ index: 0, function: { arguments: args.slice(5) } }] })
  }
  delta({}, reply.kind === "text" ? "stop" : "tool_calls")
  if (body.stream_options?.include_usage) {
    sse(res, format, { ...base, choices: [], usage: usageOf(reply, promptTokens) })
  }
  sse(res, format, "[DONE]")
  res.end()
}

/** What Anthropic adds when asked: a thinking block (with extended thinking on), cache figures (with cache_control). */
export interface AnthropicExtras {
  readonly thinking: boolean
  readonly cached: boolean
}

export const FAKE_THINKING = { type: "thinking", thinking: "Let me think this through.", signature: "sig-fake-0123" }
/** Cache figures the fake reports for a request that marks anything with cache_control. */
export const FAKE_CACHE_USAGE = { cache_creation_input_tokens: 20, cache_read_input_tokens: 100 }

export const extrasOf = (body: Json): AnthropicExtras => ({
  thinking: body.thinking?.type === "enabled",
  cached: JSON.stringify(body).includes("\"cache_control\"")
})

export const anthropicJson = (reply: Reply, model: string, extras: AnthropicExtras, prompt: number) => ({
  id: "msg_fake",
  type: "message",
  role: "assistant",
  model,
  content: [
    ...(extras.thinking ? [FAKE_THINKING] : []),
    ...(reply.kind === "text"
      ? [{ type: "text", text: reply.text }]
      : [{ type: "tool_use", id: reply.id, name: reply.name, input: reply.args }])
  ],
  stop_reason: reply.kind === "text" ? "end_turn" : "tool_use",
  stop_sequence: null,
  usage: {
    input_tokens: prompt,
    output_tokens: completionTokens(reply),
    ...(extras.cached ? FAKE_CACHE_USAGE : {})
  }
})

export const anthropicStream = async (
  { body, credential, fault, format, model, promptTokens, reply, res }: StreamContext
) => {
  const extras = extrasOf(body)
  const event = (type: string, data: Json) => sse(res, format, { type, ...data }, type)
  const errorEvent = () => {
    event("error", { error: { type: "authentication_error", message: `invalid x-api-key: ${credential}` } })
  }
  event("message_start", {
    message: {
      ...anthropicJson(reply, model, { thinking: false, cached: false }, promptTokens),
      content: [],
      stop_reason: null,
      usage: { input_tokens: promptTokens, output_tokens: 1, ...(extras.cached ? FAKE_CACHE_USAGE : {}) }
    }
  })
  const index = extras.thinking ? 1 : 0
  if (extras.thinking) {
    event("content_block_start", { index: 0, content_block: { type: "thinking", thinking: "", signature: "" } })
    event("content_block_delta", { index: 0, delta: { type: "thinking_delta", thinking: FAKE_THINKING.thinking } })
    event("content_block_delta", { index: 0, delta: { type: "signature_delta", signature: FAKE_THINKING.signature } })
    event("content_block_stop", { index: 0 })
  }
  if (reply.kind === "text") {
    event("content_block_start", { index, content_block: { type: "text", text: "" } })
    event("ping", {})
    for (const [i, word] of words(reply.text).entries()) {
      event("content_block_delta", { index, delta: { type: "text_delta", text: word } })
      if (i === 1 && fail(res, format, fault, errorEvent)) return
      await sleep(1)
    }
  } else {
    const args = JSON.stringify(reply.args)
    event("content_block_start", {
      index,
      content_block: { type: "tool_use", id: reply.id, name: reply.name, input: {} }
    })
    event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: args.slice(0, 5) } })
    event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: args.slice(5) } })
  }
  event("content_block_stop", { index })
  event("message_delta", {
    delta: { stop_reason: reply.kind === "text" ? "end_turn" : "tool_use", stop_sequence: null },
    usage: { output_tokens: completionTokens(reply) }
  })
  event("message_stop", {})
  res.end()
}

export const geminiCandidate = (reply: Reply, finish?: string) => ({
  content: {
    role: "model",
    parts: reply.kind === "text" ? [{ text: reply.text }] : [{ functionCall: { name: reply.name, args: reply.args } }]
  },
  ...(finish ? { finishReason: finish } : {}),
  index: 0
})

export const geminiUsage = (reply: Reply, prompt: number) => ({
  promptTokenCount: prompt,
  candidatesTokenCount: completionTokens(reply),
  totalTokenCount: prompt + completionTokens(reply)
})

export const geminiStream = async ({ credential, fault, format, model, promptTokens, reply, res }: StreamContext) => {
  const errorEvent = () => {
    sse(res, format, { error: { code: 400, message: `API key not valid: ${credential}`, status: "INVALID_ARGUMENT" } })
  }
  const usageMetadata = geminiUsage(reply, promptTokens)
  if (reply.kind === "text") {
    const parts = words(reply.text)
    for (const [i, word] of parts.entries()) {
      const last = i === parts.length - 1
      sse(res, format, {
        candidates: [geminiCandidate({ kind: "text", text: word }, last ? "STOP" : undefined)],
        modelVersion: model,
        ...(last ? { usageMetadata } : {})
      })
      if (i === 1 && fail(res, format, fault, errorEvent)) return
      await sleep(1)
    }
  } else {
    sse(res, format, { candidates: [geminiCandidate(reply, "STOP")], usageMetadata, modelVersion: model })
  }
  res.end()
}

/** A deterministic 4-dimensional "embedding" per input text: its length and three character sums. */
export const embeddingsJson = (body: Json) => {
  const inputs: Array<unknown> = Array.isArray(body.input) ? body.input : [body.input]
  const vector = (input: unknown) => {
    const text = String(input)
    const sum = (step: number) => [...text].reduce((total, char, at) => total + (at % step) * char.charCodeAt(0), 0)
    const values = [text.length, sum(2), sum(3), sum(5)].map((value) => value / 1000)
    // As OpenAI does: `encoding_format: "base64"` (the openai SDK's default) is little-endian float32, base64.
    return body.encoding_format === "base64"
      ? Buffer.from(new Float32Array(values).buffer).toString("base64")
      : values
  }
  return {
    object: "list",
    data: inputs.map((input, index) => ({ object: "embedding", index, embedding: vector(input) })),
    model: body.model,
    usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 }
  }
}

/** The answer in `format`'s wire format: its SSE stream, or its JSON body. */
export const writeAnswer = (
  context: StreamContext,
  streaming: boolean,
  streamedGemini: boolean
): Promise<void> | void => {
  const { body, format, id, model, promptTokens, reply, res } = context
  if (format === "gemini" ? streamedGemini : streaming) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    return format === "anthropic"
      ? anthropicStream(context)
      : format === "gemini"
      ? geminiStream(context)
      : openAIStream(context)
  }
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify(
    format === "anthropic"
      ? anthropicJson(reply, model, extrasOf(body), promptTokens)
      : format === "gemini"
      ? {
        candidates: [geminiCandidate(reply, "STOP")],
        usageMetadata: geminiUsage(reply, promptTokens),
        modelVersion: model,
        responseId: "gemini-fake"
      }
      : openAIJson(reply, model, id, promptTokens)
  ))
}
