import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { fromResponses, responseObject, streamResponse, type Turn } from "./fakeResponses.ts"

/**
 * One loopback server that speaks three real wire formats — OpenAI Chat Completions (also at Azure's
 * deployment path), Anthropic Messages and Gemini generateContent — JSON and SSE, with each provider's own error
 * bodies and auth headers. Behind them sits one tiny deterministic "model" that reads the conversation as the
 * provider received it, so a test can tell whether a translation kept the system prompt, the turns and the
 * tool results.
 */
export type WireFormat = "openai" | "azure" | "anthropic" | "gemini"

export interface ProviderCall {
  readonly format: WireFormat
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: Record<string, unknown>
  /** The body exactly as it arrived, for byte-for-byte comparisons. */
  readonly raw: string
  /** When the call arrived (ms since the epoch). */
  readonly at: number
}

export type FakeBehaviour =
  | {
    readonly kind: "error"
    readonly status: number
    readonly message: string
    readonly headers?: Record<string, string>
  }
  | { readonly kind: StreamFault }

/**
 * What can go wrong in a stream, after its first two words: the socket is destroyed; the stream ends cleanly with no
 * finish (no finish reason, `[DONE]` or `message_stop`); an event that is not JSON arrives (the rest follows as usual);
 * or an error event quotes the caller's key header, as a careless upstream might.
 */
export type StreamFault = "break-stream" | "truncate-stream" | "malformed-stream" | "error-event-stream"

/** The conversation as the model sees it, whatever the wire format. */
interface Conversation {
  readonly system: string
  readonly turns: ReadonlyArray<
    { readonly role: "user" | "assistant"; readonly text: string; readonly toolResult?: string }
  >
  readonly tools: ReadonlyArray<string>
}

type Reply = { readonly kind: "text"; readonly text: string } | {
  readonly kind: "tool"
  readonly id: string
  readonly name: string
  readonly args: Record<string, unknown>
}

export const PROMPT_TOKENS = 11

/** The model: a tool result is reported; with tools offered it calls the first; otherwise it describes what it was told. */
export const think = (conversation: Conversation): Reply => {
  const last = conversation.turns[conversation.turns.length - 1]
  if (last?.toolResult !== undefined) return { kind: "text", text: `Tool said: ${last.toolResult}` }
  if (conversation.tools.length > 0) {
    return { kind: "tool", id: "call_fake_1", name: conversation.tools[0]!, args: { query: last?.text ?? "" } }
  }
  return {
    kind: "text",
    text: `Answer to: ${last?.text ?? ""} | system: ${
      conversation.system || "none"
    } | turns: ${conversation.turns.length}`
  }
}

const words = (text: string) => text.split(/(?<= )/)
const completionTokens = (reply: Reply) => (reply.kind === "text" ? words(reply.text).length : 5)

type Json = Record<string, any>
const textOf = (content: unknown): string =>
  typeof content === "string" ? content : Array.isArray(content) ? content.map((p: Json) => p.text ?? "").join("") : ""

// ---- reading each wire format into a Conversation ----

const fromOpenAI = (body: Json): Conversation => ({
  system: body.messages.filter((m: Json) => m.role === "system" || m.role === "developer").map((m: Json) =>
    textOf(m.content)
  ).join("\n\n"),
  turns: body.messages.filter((m: Json) => m.role !== "system" && m.role !== "developer").map((m: Json) =>
    m.role === "tool"
      ? { role: "user", text: "", toolResult: textOf(m.content) }
      : { role: m.role === "assistant" ? "assistant" : "user", text: textOf(m.content) }
  ),
  tools: (body.tools ?? []).map((t: Json) => t.function.name)
})

const fromAnthropic = (body: Json): Conversation => ({
  system: typeof body.system === "string" ? body.system : textOf(body.system),
  turns: body.messages.map((m: Json) => {
    const blocks: Array<Json> = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content
    const result = blocks.find((b) => b.type === "tool_result")
    return result
      ? {
        role: "user",
        text: "",
        toolResult: typeof result.content === "string" ? result.content : textOf(result.content)
      }
      : { role: m.role, text: textOf(blocks.filter((b) => b.type === "text")) }
  }),
  tools: (body.tools ?? []).map((t: Json) => t.name)
})

const fromGemini = (body: Json): Conversation => ({
  system: (body.systemInstruction?.parts ?? []).map((p: Json) => p.text).join(""),
  turns: body.contents.map((c: Json) => {
    const response = c.parts.find((p: Json) => p.functionResponse)
    return response
      ? {
        role: "user",
        text: "",
        toolResult: String(
          response.functionResponse.response.content ?? JSON.stringify(response.functionResponse.response)
        )
      }
      : { role: c.role === "model" ? "assistant" : "user", text: c.parts.map((p: Json) => p.text ?? "").join("") }
  }),
  tools: (body.tools?.[0]?.functionDeclarations ?? []).map((f: Json) => f.name)
})

// ---- writing a Reply in each wire format ----

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const sse = (res: ServerResponse, data: unknown, event?: string) =>
  res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`)

const openAIJson = (reply: Reply, model: string) => ({
  id: "chatcmpl-fake",
  object: "chat.completion",
  created: 1_700_000_000,
  model,
  choices: [{
    index: 0,
    message: reply.kind === "text"
      ? { role: "assistant", content: reply.text }
      : {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: reply.id,
          type: "function",
          function: { name: reply.name, arguments: JSON.stringify(reply.args) }
        }]
      },
    finish_reason: reply.kind === "text" ? "stop" : "tool_calls"
  }],
  usage: {
    prompt_tokens: PROMPT_TOKENS,
    completion_tokens: completionTokens(reply),
    total_tokens: PROMPT_TOKENS + completionTokens(reply)
  }
})

/** Acts out a fault at its point in the stream; true when the stream is over. */
const fail = (res: ServerResponse, fault: StreamFault | undefined, errorEvent: () => void): boolean => {
  switch (fault) {
    case undefined:
      return false
    case "malformed-stream":
      res.write("data: {\"choices\":[{\"delta\":\n\n")
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

const openAIStream = async (
  res: ServerResponse,
  reply: Reply,
  model: string,
  body: Json,
  fault: StreamFault | undefined,
  credential: string
) => {
  const errorEvent = () => {
    const message = `Incorrect API key provided: ${credential}`
    sse(res, { error: { message, type: "invalid_request_error", code: "invalid_api_key" } })
  }
  const base = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model }
  const delta = (d: Json, finish: string | null = null) =>
    sse(res, { ...base, choices: [{ index: 0, delta: d, finish_reason: finish }] })
  delta({ role: "assistant", content: "" })
  if (reply.kind === "text") {
    for (const [i, word] of words(reply.text).entries()) {
      delta({ content: word })
      if (i === 1 && fail(res, fault, errorEvent)) return
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
    sse(res, {
      ...base,
      choices: [],
      usage: {
        prompt_tokens: PROMPT_TOKENS,
        completion_tokens: completionTokens(reply),
        total_tokens: PROMPT_TOKENS + completionTokens(reply)
      }
    })
  }
  res.write("data: [DONE]\n\n")
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

const extrasOf = (body: Json): AnthropicExtras => ({
  thinking: body.thinking?.type === "enabled",
  cached: JSON.stringify(body).includes("\"cache_control\"")
})

const anthropicJson = (reply: Reply, model: string, extras: AnthropicExtras = { thinking: false, cached: false }) => ({
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
    input_tokens: PROMPT_TOKENS,
    output_tokens: completionTokens(reply),
    ...(extras.cached ? FAKE_CACHE_USAGE : {})
  }
})

const anthropicStream = async (
  res: ServerResponse,
  reply: Reply,
  model: string,
  fault: StreamFault | undefined,
  credential: string,
  extras: AnthropicExtras
) => {
  const event = (type: string, data: Json) => sse(res, { type, ...data }, type)
  const errorEvent = () => {
    event("error", { error: { type: "authentication_error", message: `invalid x-api-key: ${credential}` } })
  }
  event("message_start", {
    message: {
      ...anthropicJson(reply, model),
      content: [],
      stop_reason: null,
      usage: { input_tokens: PROMPT_TOKENS, output_tokens: 1, ...(extras.cached ? FAKE_CACHE_USAGE : {}) }
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
      if (i === 1 && fail(res, fault, errorEvent)) return
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

const geminiCandidate = (reply: Reply, finish?: string) => ({
  content: {
    role: "model",
    parts: reply.kind === "text" ? [{ text: reply.text }] : [{ functionCall: { name: reply.name, args: reply.args } }]
  },
  ...(finish ? { finishReason: finish } : {}),
  index: 0
})

const geminiUsage = (reply: Reply) => ({
  promptTokenCount: PROMPT_TOKENS,
  candidatesTokenCount: completionTokens(reply),
  totalTokenCount: PROMPT_TOKENS + completionTokens(reply)
})

const geminiStream = async (
  res: ServerResponse,
  reply: Reply,
  model: string,
  fault: StreamFault | undefined,
  credential: string
) => {
  const errorEvent = () => {
    sse(res, { error: { code: 400, message: `API key not valid: ${credential}`, status: "INVALID_ARGUMENT" } })
  }
  if (reply.kind === "text") {
    const parts = words(reply.text)
    for (const [i, word] of parts.entries()) {
      const last = i === parts.length - 1
      sse(res, {
        candidates: [geminiCandidate({ kind: "text", text: word }, last ? "STOP" : undefined)],
        modelVersion: model,
        ...(last ? { usageMetadata: geminiUsage(reply) } : {})
      })
      if (i === 1 && fail(res, fault, errorEvent)) return
      await sleep(1)
    }
  } else {
    sse(res, { candidates: [geminiCandidate(reply, "STOP")], usageMetadata: geminiUsage(reply), modelVersion: model })
  }
  res.end()
}

// ---- errors in each provider's own shape ----

const errorBody = (format: WireFormat, status: number, message: string) =>
  format === "anthropic"
    ? {
      type: "error",
      error: {
        type: status === 429 ? "rate_limit_error" : status === 400 ? "invalid_request_error" : "api_error",
        message
      }
    }
    : format === "gemini"
    ? {
      error: {
        code: status,
        message,
        status: status === 429 ? "RESOURCE_EXHAUSTED" : status === 400 ? "INVALID_ARGUMENT" : "INTERNAL"
      }
    }
    : {
      error: { message, type: status === 429 ? "rate_limit_error" : "invalid_request_error", param: null, code: null }
    }

/** A deterministic 4-dimensional "embedding" per input text: its length and three character sums. */
const embeddingsJson = (body: Json) => {
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

export interface FakeProviders {
  readonly url: string
  readonly calls: Array<ProviderCall>
  readonly queue: Array<FakeBehaviour>
  readonly apiKey: string
  close(): Promise<void>
}

const route = (
  method: string | undefined,
  path: string
):
  | {
    format: WireFormat
    stream?: boolean
    model?: string
    countTokens?: boolean
    embeddings?: boolean
    responses?: boolean
  }
  | undefined =>
{
  if (method !== "POST") return undefined
  if (path === "/v1/chat/completions") return { format: "openai" }
  if (path === "/v1/embeddings") return { format: "openai", embeddings: true }
  if (path === "/v1/responses") return { format: "openai", responses: true }
  if (path === "/openai/v1/responses") return { format: "azure", responses: true }
  if (/^\/openai\/deployments\/[^/]+\/embeddings\?api-version=/.test(path)) return { format: "azure", embeddings: true }
  if (/^\/openai\/deployments\/[^/]+\/chat\/completions\?api-version=\d{4}-\d{2}-\d{2}/.test(path)) {
    return { format: "azure" }
  }
  if (path === "/v1/messages") return { format: "anthropic" }
  if (path === "/v1/messages/count_tokens") return { format: "anthropic", countTokens: true }
  const gemini = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent\?alt=sse)$/.exec(path)
  if (gemini) {
    return { format: "gemini", model: decodeURIComponent(gemini[1]!), stream: gemini[2] !== "generateContent" }
  }
  return undefined
}

/** API versions the real API accepts that clients here send: the gateway's own, and @anthropic-ai/sdk 1.14's. */
const ANTHROPIC_VERSIONS = ["2023-06-01", "2026-10-21"]

const authorised = (format: WireFormat, headers: IncomingMessage["headers"], key: string) =>
  format === "anthropic"
    ? headers["x-api-key"] === key && ANTHROPIC_VERSIONS.includes(String(headers["anthropic-version"]))
    : format === "gemini"
    ? headers["x-goog-api-key"] === key
    : format === "azure"
    ? headers["api-key"] === key
    : headers.authorization === `Bearer ${key}` || headers.authorization === undefined // ollama & co. send no key

export const startFakeProviders = async (apiKey = "fake-provider-key-123"): Promise<FakeProviders> => {
  const calls: Array<ProviderCall> = []
  const queue: Array<FakeBehaviour> = []
  // The upstream's own store of Responses API conversations, for `previous_response_id`.
  const storedResponses = new Map<string, ReadonlyArray<Turn>>()
  let responseCount = 0
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", async () => {
      const target = route(req.method, req.url ?? "")
      if (!target) {
        res.writeHead(404, { "content-type": "application/json" })
        return void res.end(JSON.stringify({ error: { message: `no such endpoint: ${req.method} ${req.url}` } }))
      }
      const { format } = target
      if (!authorised(format, req.headers, apiKey)) {
        res.writeHead(401, { "content-type": "application/json" })
        return void res.end(JSON.stringify(errorBody(format, 401, "invalid api key")))
      }
      const raw = Buffer.concat(chunks).toString("utf8")
      const body = JSON.parse(raw) as Json
      calls.push({ format, path: req.url ?? "", headers: req.headers, body, raw, at: Date.now() })
      if (target.countTokens) {
        // Anthropic's count: a fixed base plus one per word of the body, enough to tell requests apart.
        res.writeHead(200, { "content-type": "application/json" })
        return void res.end(JSON.stringify({ input_tokens: 7 + JSON.stringify(body).split(/\s+/).length }))
      }
      const behaviour = queue.shift()
      if (behaviour === undefined && target.embeddings) {
        res.writeHead(200, { "content-type": "application/json" })
        return void res.end(JSON.stringify(embeddingsJson(body)))
      }
      if (behaviour?.kind === "error") {
        res.writeHead(behaviour.status, { "content-type": "application/json", ...behaviour.headers })
        return void res.end(JSON.stringify(errorBody(format, behaviour.status, behaviour.message)))
      }
      const fault = behaviour === undefined ? undefined : behaviour.kind
      if (target.responses) {
        const previousId = body.previous_response_id as string | undefined
        const history = previousId === undefined ? [] : storedResponses.get(previousId)
        if (history === undefined) {
          res.writeHead(400, { "content-type": "application/json" })
          return void res.end(
            JSON.stringify(errorBody("openai", 400, `Previous response with id '${previousId}' not found.`))
          )
        }
        const conversation = fromResponses(body, history)
        const reply = think(conversation)
        const response = responseObject(`fake${++responseCount}`, body, reply, String(body.model))
        if (body.store !== false) {
          storedResponses.set(String(response.id), [
            ...conversation.turns,
            { role: "assistant", text: reply.kind === "text" ? reply.text : "" }
          ])
        }
        if (body.stream !== true) {
          res.writeHead(200, { "content-type": "application/json" })
          return void res.end(JSON.stringify(response))
        }
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        const cut = fault === "break-stream" || fault === "truncate-stream" ? 2 : undefined
        return void streamResponse(res, response, cut, fault === "truncate-stream" ? "truncate" : "break")
      }
      // What the caller authenticated with, as an upstream quoting it in an error would show it.
      const { authorization, "x-api-key": anthropicKey, "x-goog-api-key": geminiKey, "api-key": azureKey } = req.headers
      const credential = String(authorization ?? anthropicKey ?? geminiKey ?? azureKey ?? "")
      const model = target.model ?? String(body.model ?? "deployment-model")
      const reply = think(
        format === "anthropic" ? fromAnthropic(body) : format === "gemini" ? fromGemini(body) : fromOpenAI(body)
      )
      const streaming = format === "gemini" ? target.stream === true : body.stream === true
      if (streaming) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        if (format === "anthropic") return anthropicStream(res, reply, model, fault, credential, extrasOf(body))
        if (format === "gemini") return geminiStream(res, reply, model, fault, credential)
        return openAIStream(res, reply, model, body, fault, credential)
      }
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(
        format === "anthropic"
          ? anthropicJson(reply, model, extrasOf(body))
          : format === "gemini"
          ? {
            candidates: [geminiCandidate(reply, "STOP")],
            usageMetadata: geminiUsage(reply),
            modelVersion: model,
            responseId: "gemini-fake"
          }
          : openAIJson(reply, model)
      ))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    queue,
    apiKey,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
