import { Cause } from "effect"
import type { Answer, LayerName } from "../domain/Answer.ts"
import type { ChatRequest, EndpointFamily } from "../domain/ChatRequest.ts"
import { type Completion, completionToSse, firstText } from "../domain/Completion.ts"
import type { BadRequest, NotCached, ProviderError } from "../domain/errors.ts"
import { toAnthropicMessage } from "../formats/anthropic/response.ts"
import { openAIStreamToAnthropic } from "../formats/anthropic/stream.ts"
import { toGeminiResponse } from "../formats/gemini/response.ts"
import { openAIStreamToGemini } from "../formats/gemini/stream.ts"
import { type StreamTranslator, translateSse } from "../formats/translateSse.ts"
import { badRequestResponse, familyError, jsonResponse, providerErrorResponse } from "./errors.ts"

const layerNumber: Record<LayerName, 1 | 2 | 3> = { l1a: 1, l1b: 1, l2: 2, l3: 3 }

/** Which layer answered, the provider when one did, and the cache entry the answer came from or was stored under. */
export const pipelineHeaders = (layer: LayerName, provider?: string, cacheKey?: string): Record<string, string> => ({
  "x-isartor-layer": layer,
  "x-isartor-deflected": String(layer !== "l3"),
  ...(provider ? { "x-isartor-provider": provider } : {}),
  ...(cacheKey ? { "x-isartor-cache-key": cacheKey } : {})
})

// No `connection` header: keep-alive is the server's call, and it must honour a client's `Connection: close`.
export const sse = (body: ReadableStream<Uint8Array>, headers: Record<string, string>) =>
  new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...headers }
  })

const encoder = new TextEncoder()

type TypedEvent = { readonly event: string; readonly data: unknown }

const frame = (events: ReadonlyArray<TypedEvent>) =>
  encoder.encode(events.map(({ data, event }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join(""))

/** OpenAI chunk SSE → another API's typed SSE events (Anthropic Messages, OpenAI Responses): see `translateSse`. */
export const translateTypedSse = (
  openai: ReadableStream<Uint8Array>,
  translate: StreamTranslator<TypedEvent>
): ReadableStream<Uint8Array> => translateSse(openai, translate, frame)

const toAnthropicSse = (openai: ReadableStream<Uint8Array>) => translateTypedSse(openai, openAIStreamToAnthropic())

/**
 * How long an answer created at `created` has been in the cache at `now` (both ms since the epoch, by the gateway's
 * clock, the one the caches stamp entries by), as HTTP's `Age` says it.
 */
export const ageOf = (created: number, now: number) => String(Math.max(0, Math.floor((now - created) / 1000)))

/** The headers every pipeline answer carries at `now`: which layer answered, and how. */
export const answerHeaders = (answer: Answer, now: number): Record<string, string> => {
  // Built field by field, in pipelineHeaders' order: this runs on every exact hit.
  const headers: Record<string, string> = {
    "x-isartor-layer": answer.layer,
    "x-isartor-deflected": answer.layer === "l3" ? "false" : "true"
  }
  if (answer.provider) headers["x-isartor-provider"] = answer.provider
  if (answer.cacheKey) headers["x-isartor-cache-key"] = answer.cacheKey
  if (answer._tag === "Complete") {
    if (answer.similarity !== undefined) headers["x-isartor-similarity"] = answer.similarity.toFixed(4)
    if (answer.score !== undefined) headers["x-isartor-l1b-score"] = answer.score.toFixed(4)
    if (answer.stage !== undefined) headers["x-isartor-l1b-stage"] = answer.stage
  }
  if (answer.routing !== undefined) headers["x-isartor-tier"] = answer.routing.tier
  if (answer.routed !== undefined) headers["x-isartor-routed-to"] = answer.routed.to
  if (answer.contextSaved) headers["x-isartor-context-saved"] = `tokens=${answer.contextSaved}`
  // How long the answer has been in the cache, as an HTTP cache says it.
  if (answer._tag === "Complete" && answer.created !== undefined) {
    headers.age = ageOf(answer.created, now)
  }
  return headers
}

type Json = Record<string, unknown>
const unwrapped = (response: Json) => response

/**
 * An answer in Gemini's format, whole or (`stream`) as its SSE; `wrap` puts each response in an envelope (Code
 * Assist's `{"response": …}`, for the proxy).
 */
export const renderGemini = (
  answer: Answer,
  stream: boolean,
  now: number,
  wrap: (response: Json) => Json = unwrapped
): Response => {
  const headers = answerHeaders(answer, now)
  if (answer._tag === "Stream") return sse(openAIStreamToGemini(answer.body, wrap), headers)
  const completion = JSON.parse(answer.completion) as Completion
  return stream
    ? sse(openAIStreamToGemini(completionToSse(completion), wrap), headers)
    : jsonResponse(200, wrap(toGeminiResponse(completion)), headers)
}

/** What rendering reads of a request: its format, model and streaming, and whether it asked for a stream's usage. */
export type RenderedRequest =
  & Pick<ChatRequest, "family" | "model" | "stream">
  & Partial<Pick<ChatRequest, "body">>
  & { readonly includeUsage?: boolean | undefined }

/** Whether an OpenAI client asked for the usage chunk that ends a stream (`stream_options.include_usage`). */
export const asksForUsage = (request: RenderedRequest): boolean =>
  request.includeUsage ??
    ((request.body?.stream_options as { include_usage?: unknown } | null | undefined)?.include_usage === true)

/** Renders an answer in the format the client asked for, at `now` (its `Age`). */
export const renderAnswer = (request: RenderedRequest, answer: Answer, now: number): Response => {
  if (request.family === "gemini") return renderGemini(answer, request.stream, now)
  const headers = answerHeaders(answer, now)
  if (answer._tag === "Stream") {
    return sse(request.family === "anthropic" ? toAnthropicSse(answer.body) : answer.body, headers)
  }
  if (request.family === "openai" && !request.stream) {
    headers["content-type"] = "application/json"
    return new Response(answer.completion, { headers })
  }
  const completion = JSON.parse(answer.completion) as Completion
  if (request.family === "native") {
    return jsonResponse(200, {
      layer: layerNumber[answer.layer],
      message: firstText(completion),
      model: completion.model || request.model
    }, headers)
  }
  if (request.family === "anthropic") {
    return request.stream
      ? sse(toAnthropicSse(completionToSse(completion, true)), headers)
      : jsonResponse(200, toAnthropicMessage(completion), headers)
  }
  // A cached answer keeps its usage; an OpenAI client that did not ask for it never gets a chunk without choices.
  return sse(completionToSse(completion, false, asksForUsage(request)), headers)
}

/** A typed failure becomes its JSON error in the client's format; anything else is a defect, for `onError`. */
export const renderFailure = (
  family: EndpointFamily,
  cause: Cause.Cause<BadRequest | ProviderError | NotCached>
): Response => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "None") throw Cause.squash(cause)
  const error = failure.value
  if (error._tag === "NotCached") {
    return familyError(
      family,
      504,
      "not in the cache, and Cache-Control: only-if-cached forbids asking the provider",
      "not_cached",
      { code: "only_if_cached" }
    )
  }
  return error._tag === "BadRequest"
    ? badRequestResponse(family, error)
    : providerErrorResponse(family, error, pipelineHeaders("l3"))
}
