import { Cause } from "effect"
import type { Answer, LayerName } from "../domain/Answer.ts"
import type { ChatRequest, EndpointFamily } from "../domain/ChatRequest.ts"
import { type Completion, completionToSse, firstText } from "../domain/Completion.ts"
import type { BadRequest, NotCached, ProviderError } from "../domain/errors.ts"
import { toAnthropicMessage } from "../formats/anthropic/response.ts"
import { openAIStreamToAnthropic } from "../formats/anthropic/stream.ts"
import { toGeminiResponse } from "../formats/gemini/response.ts"
import { openAIStreamToGemini } from "../formats/gemini/stream.ts"
import type { OpenAIChunk } from "../formats/openai.ts"
import { errorMessage, type SseEvent, SseSplitter } from "../streams/SseEvents.ts"
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

/** A translation of OpenAI chunks into another API's typed events, one chunk at a time. */
export interface StreamTranslator {
  readonly onChunk: (chunk: OpenAIChunk) => ReadonlyArray<TypedEvent>
  /** The chunk stream said `[DONE]`. */
  readonly onEnd: () => ReadonlyArray<TypedEvent>
  /** The stream failed another way: one error event, the last thing the client gets. */
  readonly fail: (message: string) => ReadonlyArray<TypedEvent>
}

/**
 * OpenAI chunk SSE → another API's typed SSE events (Anthropic Messages, OpenAI Responses), event by event. Only a
 * stream that said `[DONE]` after a finish reason ends cleanly; any other end (an error event, no `[DONE]`, an event
 * that is not JSON, a read error) is one error event, the last thing the client gets.
 */
export const translateSse = (
  openai: ReadableStream<Uint8Array>,
  translate: StreamTranslator
): ReadableStream<Uint8Array> => {
  const reader = openai.getReader()
  const splitter = new SseSplitter()
  /** Translates `events` until one ends the stream; true when it did. */
  const translateAll = (events: ReadonlyArray<SseEvent>, out: Array<TypedEvent>): boolean => {
    for (const { data, event } of events) {
      if (data === undefined) continue
      if (event === "error") {
        out.push(...translate.fail(errorMessage(data)))
        return true
      }
      if (data === "[DONE]") {
        out.push(...translate.onEnd())
        return true
      }
      let chunk: OpenAIChunk | null
      try {
        chunk = JSON.parse(data) as OpenAIChunk | null
      } catch {
        out.push(...translate.fail("upstream sent a stream event that is not JSON"))
        return true
      }
      out.push(...translate.onChunk(chunk ?? {}))
      if (chunk?.error) return true
    }
    return false
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const out: Array<TypedEvent> = []
      try {
        for (;;) {
          const result = await reader.read()
          const { done } = result
          const over = translateAll(splitter.read(result), out)
          if (over || done) {
            if (!over) out.push(...translate.fail("upstream stream ended before the answer was finished"))
            if (out.length > 0) controller.enqueue(frame(out))
            controller.close()
            if (!done) await reader.cancel().catch(() => undefined)
            return
          }
          if (out.length > 0) return controller.enqueue(frame(out))
        }
      } catch {
        // The OpenAI stream under this one already ends in an error event when its upstream breaks; this is a
        // last guard, so say no more than that the stream broke.
        controller.enqueue(frame([...out, ...translate.fail("upstream stream broke off")]))
        controller.close()
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}

const toAnthropicSse = (openai: ReadableStream<Uint8Array>) => translateSse(openai, openAIStreamToAnthropic())

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
