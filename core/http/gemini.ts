/**
 * Gemini's own API (`/v1beta`, as Gemini CLI and `@google/genai` call it): `models/{model}:generateContent`,
 * `:streamGenerateContent` (SSE with `?alt=sse`, else a JSON array) and `:countTokens`, and the model list. Chat requests go through the same
 * pipeline as every other format (L1a, L1b, L2, L3); errors answer in Google's shape. The caller's key comes in
 * `x-goog-api-key` or `?key=`, and scopes the caches as any other caller's key does.
 */
import { Exit } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import {
  type ChatRequest,
  isObject,
  type ModelAlias,
  parseJsonBody,
  type RequestContext
} from "../domain/ChatRequest.ts"
import type { BadRequest } from "../domain/errors.ts"
import type { ReceivedBody } from "../domain/receivedBody.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"
import { fromGeminiBody, type GeminiTarget } from "../formats/gemini/body.ts"
import { fromGeminiRequest } from "../formats/gemini/request.ts"
import { SseSplitter } from "../streams/SseEvents.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"
import { familyError, jsonResponse } from "./errors.ts"
import { withQueryKey } from "./middleware.ts"
import type { Exchange } from "./observability.ts"
import { renderFailure } from "./render.ts"

export interface GeminiRouteDependencies {
  readonly config: AppConfigShape
  readonly aliases: ReadonlyMap<string, ModelAlias>
  /** The app's chat handler for a decoder: the one path every chat request takes. */
  readonly chat: (
    decode: (body: unknown, context: RequestContext) => Exit.Exit<ChatRequest, BadRequest>
  ) => (http: Request, body: ReceivedBody, exchange: Exchange | undefined) => Promise<Response>
  readonly readBody: (c: HonoContext, family: "gemini") => Promise<ReceivedBody | Response>
  readonly exchangeOf: (c: HonoContext) => Exchange | undefined
  readonly startedAt: number
}

/** The API versions Gemini clients call: the SDK's default `v1beta`, and `v1`. */
const VERSIONS = ["/v1beta", "/v1"] as const

/** Whether a path is in Gemini's namespace: every route under `/v1beta`, and `models/…:method` under `/v1`. */
export const isGeminiPath = (path: string) => path.startsWith("/v1beta/") || /^\/v1\/models\/[^/]+:/.test(path)

/** `gemini-2.5-pro:generateContent` → the model and the method; the model may name itself `models/…`. */
const targetOf = (segment: string) => {
  const colon = segment.lastIndexOf(":")
  if (colon <= 0) return undefined
  return {
    model: decodeURIComponent(segment.slice(0, colon)).replace(/^models\//, ""),
    method: segment.slice(colon + 1)
  }
}

const error = (status: number, message: string) => familyError("gemini", status, message, "invalid_request_error")

/** The request with `?key=` as its `x-goog-api-key` (and no body): what the caller's scope is read from. */
const withKeyHeader = (request: Request): Request => {
  const headers = new Headers(request.headers)
  const key = withQueryKey(request).get("x-goog-api-key")
  if (key !== null) headers.set("x-goog-api-key", key)
  return new Request(request.url, { method: request.method, headers })
}

/** A model as `models.get` and `models.list` describe it. */
const modelEntry = (id: string, description: string) => ({
  name: `models/${id}`,
  baseModelId: id,
  version: "isartor",
  displayName: id,
  description,
  supportedGenerationMethods: ["generateContent", "streamGenerateContent", "countTokens"]
})

/** `:countTokens`: an estimate (the o200k tokenizer), over the request's text; the provider is not asked. */
const countTokens = async (body: unknown, model: string): Promise<Response> => {
  if (!isObject(body)) return error(400, "request body must be a JSON object")
  const request = isObject(body.generateContentRequest) ? body.generateContentRequest : body
  const contents = Array.isArray(request.contents) ? request.contents : []
  const canonical = fromGeminiRequest({ ...request, contents }, model, false)
  const messages = canonical.messages as Array<{ role: string; content?: unknown }>
  const totalTokens = await estimateInputTokens({
    system: messages.filter((message) => message.role === "system").map((message) => message.content).join("\n"),
    messages: messages.filter((message) => message.role !== "system"),
    tools: canonical.tools
  })
  return jsonResponse(200, { totalTokens }, { "x-isartor-token-count": "estimate" })
}

const encoder = new TextEncoder()

/** One JSON-array stream's state: its events split out, and how many responses went out. */
interface ArrayFraming {
  readonly splitter: SseSplitter
  written: number
}

const arrayFraming: StreamTap<ArrayFraming> = {
  onRead: (state, result, controller) => {
    let text = ""
    for (const { data } of state.splitter.read(result)) {
      if (data === undefined) continue
      text += (state.written++ === 0 ? "[" : ",\r\n") + data
    }
    if (result.done) {
      controller.enqueue(encoder.encode(`${text}${state.written === 0 ? "[" : ""}]`))
      controller.close()
      return "ended"
    }
    if (text === "") return "readOn"
    controller.enqueue(encoder.encode(text))
    return "wait"
  },
  onFailure: (_, error, controller) => controller.error(error)
}

/**
 * Gemini's stream without `alt=sse`: the same responses as one JSON array, written as they come (`[{…}`, then
 * `,\r\n{…}` each, then `]`), as Google frames it. An answer that is not a stream (an error) passes as it is.
 */
export const asJsonArray = (response: Response): Response => {
  const body = response.body
  if (!response.ok || body === null || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
    return response
  }
  const stream = tapStream(body, arrayFraming, { splitter: new SseSplitter(), written: 0 })
  const headers = new Headers(response.headers)
  headers.set("content-type", "application/json; charset=utf-8")
  return new Response(stream, { status: response.status, headers })
}

export const geminiRoutes = (app: Hono, deps: GeminiRouteDependencies) => {
  const created = new Date(deps.startedAt).toISOString()
  const models = () => [
    modelEntry(deps.config.external_llm_model, `${deps.config.llm_provider} through Isartor (since ${created})`),
    ...[...deps.aliases].map(([name, alias]) => modelEntry(name, `alias for ${alias.model}`))
  ]
  const generate = async (c: HonoContext, target: GeminiTarget) => {
    const body = await deps.readBody(c, "gemini")
    if (body instanceof Response) return body
    const handle = deps.chat((parsed, context) => fromGeminiBody(parsed, context, target))
    return handle(withKeyHeader(c.req.raw), body, deps.exchangeOf(c))
  }
  for (const version of VERSIONS) {
    app.post(`${version}/models/:action`, async (c) => {
      const target = targetOf(c.req.param("action"))
      if (target === undefined) return error(404, `no route for POST ${c.req.path}`)
      if (target.method === "generateContent") return generate(c, { model: target.model, stream: false })
      if (target.method === "streamGenerateContent") {
        const streamed = await generate(c, { model: target.model, stream: true })
        return c.req.query("alt") === "sse" ? streamed : asJsonArray(streamed)
      }
      if (target.method === "countTokens") {
        const read = await deps.readBody(c, "gemini")
        if (read instanceof Response) return read
        const parsed = parseJsonBody(read.text)
        return Exit.isSuccess(parsed) ? countTokens(parsed.value, target.model) : renderFailure("gemini", parsed.cause)
      }
      return error(404, `method ${target.method} is not served by the gateway`)
    })
  }
  app.get("/v1beta/models", (c) => c.json({ models: models() }))
  app.get("/v1beta/models/:model", (c) => {
    const id = decodeURIComponent(c.req.param("model")).replace(/^models\//, "")
    const found = models().find((model) => model.baseModelId === id)
    return found === undefined ? error(404, `model ${id} is not served by the gateway`) : c.json(found)
  })
}
