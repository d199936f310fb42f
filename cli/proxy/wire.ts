import { Exit } from "effect"
import { isObject, parseJsonBody } from "../../core/domain/ChatRequest.ts"
import { type SseEvent, SseSplitter } from "../../core/streams/SseEvents.ts"

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

/** A Gemini part the caches can hold: text and nothing else (no images, function calls, thoughts). */
const textOnly = (parts: unknown): boolean =>
  Array.isArray(parts) &&
  parts.every((part) =>
    isObject(part) && typeof part.text === "string" && Object.keys(part).every((key) => key === "text")
  )

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

/** A Gemini body without its bookkeeping, as the caches key it: `text` itself when it has none. */
const withoutBookkeeping = (body: Record<string, unknown>, text?: string) =>
  text !== undefined && Object.keys(body).every((key) => !BOOKKEEPING.has(key))
    ? text
    : JSON.stringify(Object.fromEntries(Object.entries(body).filter(([key]) => !BOOKKEEPING.has(key))))

/**
 * Whether a Gemini `GenerateContentRequest` holds text and nothing else: one with tools, images, function calls or
 * cached content goes to the host uncached, since the caches could not tell its answers apart by text alone.
 */
const textOnlyGemini = (body: Record<string, unknown>): boolean => {
  if (Object.keys(body).some((key) => !GEMINI_FIELDS.has(key))) return false
  if (!Array.isArray(body.contents) || body.contents.length === 0) return false
  const system = body.systemInstruction ?? body.system_instruction
  if (system !== undefined && typeof system !== "string" && !(isObject(system) && textOnly(system.parts))) return false
  return body.contents.every((content) =>
    isObject(content) && textOnly(content.parts) &&
    (content.role === undefined || content.role === "user" || content.role === "model")
  )
}

/** How an intercepted chat request is asked of the gateway: its route, its body, and any scope of its own. */
export interface GatewayAsk {
  readonly path: string
  readonly body: string
  /** What else the answer depends on (Code Assist's project): the cache scope beside the caller's credential. */
  readonly scope?: string
  /** Code Assist wraps Gemini's answers: `{"response": GenerateContentResponse, …}`. */
  readonly wrapped: boolean
}

const geminiPath = (model: string, wire: WireRequest, query: string) =>
  `/v1beta/models/${encodeURIComponent(model)}:${wire.stream ? "streamGenerateContent" : "generateContent"}${
    query === "" ? "" : `?${query}`
  }`

/**
 * The gateway route an intercepted chat request is asked on, in the gateway's own API: OpenAI's and Anthropic's as
 * they came, Gemini's under `/v1beta`, Code Assist's unwrapped. Undefined when the caches do not take its shape
 * (a Gemini request with more than text, a Gemini stream that is not SSE), which the host then gets as it was.
 */
export const gatewayAsk = (wire: WireRequest, url: string, text: string): GatewayAsk | undefined => {
  const query = url.split("?", 2)[1] ?? ""
  if (wire.wire === "openai") return { path: "/v1/chat/completions", body: text, wrapped: false }
  if (wire.wire === "anthropic") return { path: "/v1/messages", body: text, wrapped: false }
  // A Gemini stream the caches can replay is SSE (`alt=sse`): the JSON-array form goes to the host as it is.
  if (wire.stream === true && wire.sse !== true) return undefined
  const body = parseJsonBody(text)
  if (Exit.isFailure(body) || !isObject(body.value)) return undefined
  if (wire.wire === "gemini") {
    if (!textOnlyGemini(body.value)) return undefined
    return {
      path: geminiPath(wire.model ?? "", wire, query),
      body: withoutBookkeeping(body.value, text),
      wrapped: false
    }
  }
  const { model, request } = body.value
  if (typeof model !== "string" || !isObject(request) || !textOnlyGemini(request)) return undefined
  const scope = Object.fromEntries(
    Object.entries(body.value).filter(([key]) => key !== "model" && key !== "request" && !BOOKKEEPING.has(key))
  )
  return {
    path: geminiPath(model, wire, query),
    body: withoutBookkeeping(request),
    scope: JSON.stringify(scope),
    wrapped: true
  }
}

/** Each event's data of an SSE stream, rewritten by `map`; a stream cancelled downstream is cancelled upstream. */
export const mapSseData = (body: ReadableStream<Uint8Array>, map: (data: string) => string) => {
  const splitter = new SseSplitter()
  const encoder = new TextEncoder()
  const write = (events: ReadonlyArray<SseEvent>, controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const event of events) {
      const text = event.data === undefined
        ? event.raw
        : `${event.event === undefined ? "" : `event: ${event.event}\n`}data: ${map(event.data)}\n\n`
      controller.enqueue(encoder.encode(text))
    }
  }
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => write(splitter.read({ done: false, value: chunk }), controller),
      flush: (controller) => write(splitter.read({ done: true, value: undefined }), controller)
    })
  )
}

/** JSON text rewritten by `map`; anything else (not JSON) as it was. */
const mapJson = (text: string, map: (value: Record<string, unknown>) => unknown) => {
  try {
    const value = JSON.parse(text) as unknown
    return isObject(value) ? JSON.stringify(map(value)) : text
  } catch {
    return text
  }
}

/** An answer whose every Gemini response is rewritten by `map`: a whole one, or each event of a stream. */
export const mapGeminiAnswer = async (response: Response, map: (value: Record<string, unknown>) => unknown) => {
  const headers = new Headers(response.headers)
  headers.delete("content-length")
  const init = { status: response.status, statusText: response.statusText, headers }
  if (response.body === null) return response
  if (/text\/event-stream/i.test(headers.get("content-type") ?? "")) {
    return new Response(mapSseData(response.body, (data) => mapJson(data, map)), init)
  }
  return new Response(mapJson(await response.text(), map), init)
}

/** Code Assist's answer, unwrapped to Gemini's: `{"response": GenerateContentResponse, …}` → its response. */
export const unwrapCloudCode = (answer: Record<string, unknown>): Record<string, unknown> =>
  isObject(answer.response) ? answer.response : answer

/** Gemini's answer, wrapped as Code Assist sends it. */
export const wrapCloudCode = (answer: Record<string, unknown>) => ({ response: answer })
