import { Exit } from "effect"
import type { IncomingHttpHeaders } from "node:http"
import {
  type ChatRequest,
  fromOpenAIBody,
  isObject,
  parseJsonBody,
  type RequestContext
} from "../../core/domain/ChatRequest.ts"
import type { BadRequest } from "../../core/domain/errors.ts"
import { fromAnthropicBody } from "../../core/formats/anthropic/messagesBody.ts"

/**
 * The chat APIs the proxy reads: OpenAI Chat Completions (Copilot, OpenAI), Anthropic Messages, Gemini's
 * `generateContent` / `streamGenerateContent`, and the same Gemini bodies wrapped by Code Assist's `v1internal`
 * methods (`cloudcode-pa.googleapis.com`, reported to be what Antigravity's agent calls).
 */
export type Wire = "openai" | "anthropic" | "gemini" | "cloudcode"

export interface WireRequest {
  readonly wire: Wire
  /** Gemini names the model in the path. */
  readonly model?: string
  /** Gemini says "stream" in the path, and SSE (`alt=sse`) in the query. */
  readonly stream?: boolean
  readonly sse?: boolean
}

/** Which chat API an intercepted request speaks; undefined for anything else, which goes to the host unread. */
export const wireOf = (method: string | undefined, url: string | undefined): WireRequest | undefined => {
  if (method !== "POST") return undefined
  const [path = "", query = ""] = (url ?? "").split("?", 2)
  const sse = /(^|&)alt=sse(&|$)/.test(query)
  if (/\/chat\/completions$/.test(path)) return { wire: "openai" }
  if (path === "/v1/messages") return { wire: "anthropic" }
  const gemini = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(path)
  if (gemini) {
    return { wire: "gemini", model: decodeURIComponent(gemini[1]!), stream: gemini[2] === "streamGenerateContent", sse }
  }
  const cloudCode = /\/v1internal:(generateContent|streamGenerateContent)$/.exec(path)
  if (cloudCode) return { wire: "cloudcode", stream: cloudCode[1] === "streamGenerateContent", sse }
  return undefined
}

/** Code Assist wraps Gemini's answer: `{"response": GenerateContentResponse, …}`. */
export const unwrapCloudCode = (answer: Record<string, unknown>): Record<string, unknown> =>
  isObject(answer.response) ? answer.response : answer

/** Headers of the APIs that change what an answer is (`anthropic-beta` is part of the cache key). */
const PROTOCOL_HEADERS = ["anthropic-version", "anthropic-beta", "openai-organization", "openai-project"]

export const protocolHeaders = (headers: IncomingHttpHeaders): Record<string, string> =>
  Object.fromEntries(
    PROTOCOL_HEADERS.flatMap((name) => {
      const value = headers[name]
      return value === undefined ? [] : [[name, Array.isArray(value) ? value.join(", ") : value]]
    })
  )

/** A Gemini part the caches can hold: text and nothing else (no images, function calls, thoughts). */
const textOf = (parts: unknown): string | undefined => {
  if (!Array.isArray(parts)) return undefined
  let text = ""
  for (const part of parts) {
    if (!isObject(part) || typeof part.text !== "string" || Object.keys(part).some((key) => key !== "text")) {
      return undefined
    }
    text += part.text
  }
  return text
}

/** Top-level fields of a Gemini request that need no more than text to answer; anything else is passed on. */
const GEMINI_FIELDS = new Set([
  "contents",
  "systemInstruction",
  "system_instruction",
  "generationConfig",
  "safetySettings",
  "session_id"
])
/** Per-prompt and per-session bookkeeping (Code Assist's wrapper, its `session_id`), never what the answer says. */
const BOOKKEEPING = new Set(["user_prompt_id", "userPromptId", "requestId", "request_id", "session_id"])

const withoutBookkeeping = (body: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(body).filter(([key, value]) => value !== undefined && !BOOKKEEPING.has(key)))

/**
 * A Gemini `GenerateContentRequest` as an OpenAI chat body the pipeline can key, look up and store; undefined when
 * it holds anything but text (tools, images, function calls, cached content), which then goes to the host
 * uncached. The whole Gemini body rides along under `gemini`, so two requests share an exact entry only when every
 * field of theirs is the same.
 */
export const geminiToOpenAI = (
  body: Record<string, unknown>,
  model: string,
  stream: boolean,
  wrapper: Record<string, unknown> = {}
): Record<string, unknown> | undefined => {
  if (Object.keys(body).some((key) => !GEMINI_FIELDS.has(key))) return undefined
  if (!Array.isArray(body.contents) || body.contents.length === 0) return undefined
  const messages: Array<{ role: string; content: string }> = []
  const system = body.systemInstruction ?? body.system_instruction
  if (system !== undefined) {
    const text = typeof system === "string" ? system : isObject(system) ? textOf(system.parts) : undefined
    if (text === undefined) return undefined
    messages.push({ role: "system", content: text })
  }
  for (const content of body.contents) {
    if (!isObject(content)) return undefined
    const text = textOf(content.parts)
    if (text === undefined || (content.role !== undefined && content.role !== "user" && content.role !== "model")) {
      return undefined
    }
    messages.push({ role: content.role === "model" ? "assistant" : "user", content: text })
  }
  const config = isObject(body.generationConfig) ? body.generationConfig : {}
  const mapped = Object.fromEntries(
    ([
      ["temperature", config.temperature],
      ["top_p", config.topP],
      ["max_tokens", config.maxOutputTokens],
      ["stop", config.stopSequences],
      ["seed", config.seed]
    ] as Array<[string, unknown]>).filter(([, value]) => value !== undefined)
  )
  const gemini = { ...withoutBookkeeping(wrapper), request: withoutBookkeeping(body) }
  return { model, messages, stream, ...mapped, gemini }
}

/**
 * The pipeline's request for an intercepted chat request; undefined when its shape is one the caches do not take
 * (the host then gets it as it was); a BadRequest when the gateway would refuse it (also passed on unread).
 */
export const decodeRequest = (
  wire: WireRequest,
  text: string,
  headers: IncomingHttpHeaders,
  context: RequestContext
): Exit.Exit<ChatRequest, BadRequest> | undefined => {
  const parsed = parseJsonBody(text)
  if (Exit.isFailure(parsed)) return parsed as Exit.Exit<never, BadRequest>
  const body = parsed.value
  const received = { text, headers: protocolHeaders(headers) }
  if (wire.wire === "openai") return fromOpenAIBody(body, { ...context, received })
  if (wire.wire === "anthropic") return fromAnthropicBody(body, { ...context, received })
  // A Gemini stream the caches can replay is SSE (`alt=sse`): the JSON-array form goes to the host as it is.
  if (!isObject(body) || (wire.stream === true && wire.sse !== true)) return undefined
  const translated = wire.wire === "gemini"
    ? geminiToOpenAI(body, wire.model ?? context.defaultModel, wire.stream === true)
    : isObject(body.request) && typeof body.model === "string"
    ? geminiToOpenAI(body.request, body.model, wire.stream === true, { ...body, request: undefined })
    : undefined
  return translated === undefined ? undefined : fromOpenAIBody(translated, context)
}
