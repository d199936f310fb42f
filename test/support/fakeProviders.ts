import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { errorBody, refusal, type WireFormat } from "./fakeErrors.ts"
import { fromResponses, responseObject, streamResponse, type Turn } from "./fakeResponses.ts"

/**
 * The one loopback fake of every provider's API, shared by every test: OpenAI Chat Completions, Responses and
 * embeddings (at `/v1`, as xAI and the OpenAI-compatible servers serve them too; at Azure's deployment paths; at
 * `/ollama/v1` as Ollama serves them, keyless), Anthropic Messages and Gemini generateContent — JSON and SSE framed as
 * each API frames it, each provider's key header required as the API requires it, and its own error bodies
 * (fakeErrors.ts). Behind them sits one tiny deterministic "model" that reads the conversation as the provider
 * received it, so a test can tell whether a translation kept the system prompt, the turns and the tool results.
 */
export type { WireFormat } from "./fakeErrors.ts"

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
  /** The model's answer, after `delayMs`. */
  | { readonly kind: "ok"; readonly delayMs?: number }
  /** The provider's own error body for `status`, with `message`. */
  | {
    readonly kind: "error"
    readonly status: number
    readonly message: string
    readonly headers?: Record<string, string>
  }
  | { readonly kind: StreamFault }
  /** No answer at all: the request is read and left open. */
  | { readonly kind: "hang" }
  /** A 200 whose body is not JSON, as a misconfigured proxy in front of an upstream may answer. */
  | { readonly kind: "not-json" }

/**
 * What can go wrong in a stream, after its first two words: the socket is destroyed; the stream ends cleanly with no
 * finish (no finish reason, `[DONE]` or `message_stop`); an event that is not JSON arrives (the rest follows as usual);
 * or an error event quotes the caller's key header, as a careless upstream might.
 */
export type StreamFault = "break-stream" | "truncate-stream" | "malformed-stream" | "error-event-stream"

/** The conversation as the model sees it, whatever the wire format. */
export interface Conversation {
  readonly system: string
  readonly turns: ReadonlyArray<
    { readonly role: "user" | "assistant"; readonly text: string; readonly toolResult?: string }
  >
  readonly tools: ReadonlyArray<string>
}

export type Reply = { readonly kind: "text"; readonly text: string } | {
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

/** What answers behind every wire format: a reply to the conversation (or to the request body itself). */
export interface FakeModel {
  readonly promptTokens: number
  readonly reply: (conversation: Conversation, body: Record<string, any>) => Reply
}

export const conversationModel: FakeModel = { promptTokens: PROMPT_TOKENS, reply: think }

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

const openAIJson = (reply: Reply, model: string, id: string, prompt: number) => ({
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

interface StreamContext {
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

const openAIStream = async (
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

const extrasOf = (body: Json): AnthropicExtras => ({
  thinking: body.thinking?.type === "enabled",
  cached: JSON.stringify(body).includes("\"cache_control\"")
})

const anthropicJson = (reply: Reply, model: string, extras: AnthropicExtras, prompt: number) => ({
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

const anthropicStream = async ({ body, credential, fault, format, model, promptTokens, reply, res }: StreamContext) => {
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

const geminiCandidate = (reply: Reply, finish?: string) => ({
  content: {
    role: "model",
    parts: reply.kind === "text" ? [{ text: reply.text }] : [{ functionCall: { name: reply.name, args: reply.args } }]
  },
  ...(finish ? { finishReason: finish } : {}),
  index: 0
})

const geminiUsage = (reply: Reply, prompt: number) => ({
  promptTokenCount: prompt,
  candidatesTokenCount: completionTokens(reply),
  totalTokenCount: prompt + completionTokens(reply)
})

const geminiStream = async ({ credential, fault, format, model, promptTokens, reply, res }: StreamContext) => {
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

// ---- the server ----

export interface FakeProviders {
  /** The server's base URL: `/v1` under it is OpenAI's API, `/ollama` Ollama's, `/v1beta` Gemini's… */
  readonly url: string
  readonly calls: Array<ProviderCall>
  /** The next requests get these behaviours in turn; afterwards, the default (`ok` unless set). */
  readonly queue: Array<FakeBehaviour>
  /** The key every provider's endpoint requires (Ollama's requires none). */
  readonly apiKey: string
  setDefault(behaviour: FakeBehaviour): void
  close(): Promise<void>
}

export interface FakeProvidersOptions {
  readonly model?: FakeModel
  /** Keep every request for assertions (tests); off for load, where it would only grow. */
  readonly record?: boolean
  readonly port?: number
  readonly defaultBehaviour?: FakeBehaviour
}

interface Target {
  readonly format: WireFormat
  readonly stream?: boolean
  readonly model?: string
  readonly countTokens?: boolean
  readonly embeddings?: boolean
  readonly responses?: boolean
}

const route = (method: string | undefined, path: string, query: URLSearchParams): Target | undefined => {
  if (method !== "POST") return undefined
  if (path === "/v1/chat/completions") return { format: "openai" }
  if (path === "/v1/embeddings") return { format: "openai", embeddings: true }
  if (path === "/v1/responses") return { format: "openai", responses: true }
  if (path === "/ollama/v1/chat/completions") return { format: "ollama" }
  if (path === "/ollama/v1/embeddings") return { format: "ollama", embeddings: true }
  if (path === "/openai/v1/responses") return { format: "azure", responses: true }
  const azure = /^\/openai\/deployments\/[^/]+\/(chat\/completions|embeddings)$/.exec(path)
  if (azure && /^\d{4}-\d{2}-\d{2}/.test(query.get("api-version") ?? "")) {
    return { format: "azure", embeddings: azure[1] === "embeddings" }
  }
  if (path === "/v1/messages") return { format: "anthropic" }
  if (path === "/v1/messages/count_tokens") return { format: "anthropic", countTokens: true }
  const gemini = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path)
  // Without `alt=sse` Gemini streams one JSON array, which no client here asks for.
  if (gemini && (gemini[2] === "generateContent" || query.get("alt") === "sse")) {
    return { format: "gemini", model: decodeURIComponent(gemini[1]!), stream: gemini[2] !== "generateContent" }
  }
  return undefined
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

const startEventStream = (res: ServerResponse) =>
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })

/** The Responses API, with the upstream's own store of conversations for `previous_response_id`. */
const responsesEndpoint = (model: FakeModel) => {
  const stored = new Map<string, ReadonlyArray<Turn>>()
  let count = 0
  return (res: ServerResponse, body: Json, fault: StreamFault | undefined) => {
    const previousId = body.previous_response_id as string | undefined
    const history = previousId === undefined ? [] : stored.get(previousId)
    if (history === undefined) {
      return sendJson(res, 400, errorBody("openai", 400, `Previous response with id '${previousId}' not found.`))
    }
    const conversation = fromResponses(body, history)
    const reply = model.reply(conversation, body)
    const response = responseObject(`fake${++count}`, body, reply, String(body.model))
    if (body.store !== false) {
      stored.set(String(response.id), [
        ...conversation.turns,
        { role: "assistant", text: reply.kind === "text" ? reply.text : "" }
      ])
    }
    if (body.stream !== true) return sendJson(res, 200, response)
    startEventStream(res)
    const cut = fault === "break-stream" || fault === "truncate-stream" ? 2 : undefined
    return void streamResponse(res, response, cut, fault === "truncate-stream" ? "truncate" : "break")
  }
}

export const startFakeProviders = async (
  apiKey = "fake-provider-key-123",
  options: FakeProvidersOptions = {}
): Promise<FakeProviders> => {
  const calls: Array<ProviderCall> = []
  const queue: Array<FakeBehaviour> = []
  const model = options.model ?? conversationModel
  const record = options.record ?? true
  let fallback: FakeBehaviour = options.defaultBehaviour ?? { kind: "ok" }
  let completions = 0
  const responses = responsesEndpoint(model)
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://fake")
      const target = route(req.method, url.pathname, url.searchParams)
      if (!target) {
        return sendJson(res, 404, errorBody("openai", 404, `Invalid URL (${req.method} ${url.pathname})`))
      }
      const { format } = target
      const refused = refusal(format, req.headers, url.searchParams, apiKey)
      if (refused) return sendJson(res, refused.status, refused.body)
      const raw = Buffer.concat(chunks).toString("utf8")
      const body = JSON.parse(raw) as Json
      if (record) calls.push({ format, path: req.url ?? "", headers: req.headers, body, raw, at: Date.now() })
      if (target.countTokens) {
        // Anthropic's count: a fixed base plus one per word of the body, enough to tell requests apart.
        return sendJson(res, 200, { input_tokens: 7 + JSON.stringify(body).split(/\s+/).length })
      }
      const behaviour = queue.shift() ?? fallback
      switch (behaviour.kind) {
        case "hang":
          return
        case "not-json":
          res.writeHead(200, { "content-type": "application/json" })
          return void res.end("<html>502 Bad Gateway</html>")
        case "error":
          return sendJson(
            res,
            behaviour.status,
            errorBody(format, behaviour.status, behaviour.message),
            behaviour.headers
          )
        case "ok":
          if (behaviour.delayMs) await sleep(behaviour.delayMs)
      }
      const fault = behaviour.kind === "ok" ? undefined : behaviour.kind
      if (target.embeddings) return sendJson(res, 200, embeddingsJson(body))
      if (target.responses) return responses(res, body, fault)
      const { authorization, "x-api-key": anthropicKey, "x-goog-api-key": geminiKey, "api-key": azureKey } = req.headers
      const id = `chatcmpl-fake${++completions}`
      const context: StreamContext = {
        res,
        format,
        reply: model.reply(
          format === "anthropic" ? fromAnthropic(body) : format === "gemini" ? fromGemini(body) : fromOpenAI(body),
          body
        ),
        model: target.model ?? String(body.model ?? "deployment-model"),
        id,
        body,
        fault,
        credential: String(authorization ?? anthropicKey ?? geminiKey ?? azureKey ?? ""),
        promptTokens: model.promptTokens
      }
      const streaming = format === "gemini" ? target.stream === true : body.stream === true
      if (streaming) {
        startEventStream(res)
        if (format === "anthropic") return anthropicStream(context)
        if (format === "gemini") return geminiStream(context)
        return openAIStream(context)
      }
      const { reply, model: modelName } = context
      sendJson(
        res,
        200,
        format === "anthropic"
          ? anthropicJson(reply, modelName, extrasOf(body), model.promptTokens)
          : format === "gemini"
          ? {
            candidates: [geminiCandidate(reply, "STOP")],
            usageMetadata: geminiUsage(reply, model.promptTokens),
            modelVersion: modelName,
            responseId: "gemini-fake"
          }
          : openAIJson(reply, modelName, id, model.promptTokens)
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    queue,
    apiKey,
    setDefault: (behaviour) => {
      fallback = behaviour
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
