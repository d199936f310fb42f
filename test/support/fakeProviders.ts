import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { errorBody, refusal, type WireFormat } from "./fakeErrors.ts"
import {
  conversationModel,
  type FakeModel,
  fromAnthropic,
  fromGemini,
  fromOpenAI,
  type Json,
  type Turn
} from "./fakeModel.ts"
import { fromResponses, responseObject, streamResponse } from "./fakeResponses.ts"
import { embeddingsJson, sleep, type StreamContext, type StreamFault, writeAnswer } from "./fakeWire.ts"

/**
 * The one loopback fake of every provider's API, shared by every test: OpenAI Chat Completions, Responses and
 * embeddings (at `/v1`, as xAI and the OpenAI-compatible servers serve them too; at Azure's deployment paths; at
 * `/ollama/v1` as Ollama serves them, keyless), Anthropic Messages and Gemini generateContent — JSON and SSE framed as
 * each API frames it, each provider's key header required as the API requires it, and its own error bodies
 * (fakeErrors.ts). Behind them sits one tiny deterministic model (fakeModel.ts), its answers written in each wire
 * format by fakeWire.ts.
 */
export type { WireFormat } from "./fakeErrors.ts"
export { type Conversation, type FakeModel, PROMPT_TOKENS, type Reply, think } from "./fakeModel.ts"
export { FAKE_CACHE_USAGE, FAKE_THINKING, type StreamFault } from "./fakeWire.ts"

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
  /**
   * The model's answer, after `delayMs`, and not before `gate` resolves: a test holds a call in flight until it has
   * seen what it waits for (see `makeGate`).
   */
  | { readonly kind: "ok"; readonly delayMs?: number; readonly gate?: Promise<void> }
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

/** A gate a test opens: the fake's `ok` answers wait on `closed` until then. */
export const makeGate = () => {
  let open: () => void = () => undefined
  const closed = new Promise<void>((resolve) => (open = resolve))
  return { closed, open }
}

// ---- the server ----

export interface FakeProviders {
  /** The server's base URL: `/v1` under it is OpenAI's API, `/ollama` Ollama's, `/v1beta` Gemini's… */
  readonly url: string
  readonly calls: Array<ProviderCall>
  /** Recorded calls whose caller went away before the whole answer was written (a stream it cancelled). */
  readonly abandoned: Array<ProviderCall>
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
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    const cut = fault === "break-stream" || fault === "truncate-stream" ? 2 : undefined
    return void streamResponse(res, response, cut, fault === "truncate-stream" ? "truncate" : "break")
  }
}

export const startFakeProviders = async (
  apiKey = "fake-provider-key-123",
  options: FakeProvidersOptions = {}
): Promise<FakeProviders> => {
  const calls: Array<ProviderCall> = []
  const abandoned: Array<ProviderCall> = []
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
      if (record) {
        const call = { format, path: req.url ?? "", headers: req.headers, body, raw, at: Date.now() }
        calls.push(call)
        res.once("close", () => res.writableFinished || abandoned.push(call))
      }
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
          if (behaviour.gate) await behaviour.gate
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
      return writeAnswer(context, body.stream === true, target.stream === true)
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    abandoned,
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
