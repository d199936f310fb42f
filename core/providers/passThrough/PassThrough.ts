import { Context, Effect, type Redacted } from "effect"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { type Completion, isWellFormed } from "../../domain/Completion.ts"
import type { ProviderError, ProviderErrorReason } from "../../domain/errors.ts"
import { fromAnthropicMessage } from "../../formats/anthropic/response.ts"
import type { AnthropicMessage } from "../../formats/anthropic/wire.ts"
import { fromGeminiResponse, geminiStreamToOpenAI } from "../../formats/gemini.ts"
import { makeTransport, type Transport, type TransportLimits } from "../../transport/http.ts"
import { anthropicChunks } from "../anthropic.ts"
import type { Answered } from "../chain/failover.ts"

/**
 * Where a request read by `isartor proxy` was going, and whose it is: its original host, the client's own
 * credential, and the way to send it there as the client sent it. Handed in by the proxy for each request
 * (`Gateway.passThrough`), never read from a request's headers: a caller of the gateway cannot name a host.
 */
export interface PassThroughOrigin {
  /** The original host, as the client named it: the provider the answer is from, in headers and the ledger. */
  readonly host: string
  /** Each credential the client sent: each scrubbed from any message that quotes it. */
  readonly credentials: ReadonlyArray<Redacted.Redacted<string>>
  /**
   * The client's own request — its bytes, its headers — to the original host, its certificate verified. The
   * runtime's (the proxy's): how a host is dialled is not core's to know.
   */
  readonly send: () => Promise<Response>
}

/** The origin of the request being answered; none for a request to the gateway itself. */
export const PassThroughOrigin = Context.Reference<PassThroughOrigin | undefined>("isartor/PassThroughOrigin", {
  defaultValue: () => undefined
})

/** `effect` answering for `origin`, when there is one. */
export const forOrigin = <A, E, R>(origin: PassThroughOrigin | undefined, effect: Effect.Effect<A, E, R>) =>
  origin === undefined ? effect : Effect.provideService(effect, PassThroughOrigin, origin)

const reasonFor = (status: number): ProviderErrorReason =>
  status === 429
    ? "RateLimited"
    : status === 401 || status === 403
    ? "Unauthorized"
    : status === 404
    ? "NotFound"
    : status < 500
    ? "BadRequest"
    : "Upstream"

/** The host's answer, or its refusal as a ProviderError (the proxy keeps the refusal's bytes for the client). */
const sent = (origin: PassThroughOrigin, transport: Transport) =>
  Effect.tryPromise({
    try: origin.send,
    catch: (error) => transport.fail("Unreachable", `cannot reach ${origin.host}: ${(error as Error).message}`)
  }).pipe(Effect.flatMap((response) => {
    if (response.ok) return Effect.succeed(response)
    void response.body?.cancel().catch(() => undefined)
    return Effect.fail(transport.fail(reasonFor(response.status), `${origin.host} answered ${response.status}`, {
      upstreamStatus: response.status
    }))
  }))

/** A whole answer in the client's API, as the pipeline keeps it: OpenAI chat completions. */
const completionOf = (request: ChatRequest, answer: Record<string, unknown>, transport: Transport) => {
  if (request.family === "anthropic") return Effect.succeed(fromAnthropicMessage(answer as AnthropicMessage))
  if (request.family === "gemini") return Effect.succeed(fromGeminiResponse(answer, request.model))
  return isWellFormed(answer)
    ? Effect.succeed(answer as Completion)
    : Effect.fail(transport.fail("Upstream", "the host's answer is not a chat completion"))
}

/** A streamed answer in the client's API, as OpenAI chunk SSE. */
const chunksOf = (request: ChatRequest, response: Response, transport: Transport) => {
  if (request.family === "anthropic") return anthropicChunks(request, response, transport)
  if (request.family === "gemini") {
    const translate = geminiStreamToOpenAI(request.model, true)
    let finished = false
    return transport.stream(response, {
      onEvent: (data) => {
        const chunks = translate.onEvent(data) as Array<{ choices?: Array<{ finish_reason?: unknown }> }>
        // Gemini has no end-of-stream event: a finish reason says the answer is whole.
        if (chunks.some((chunk) => chunk.choices?.some((choice) => choice.finish_reason))) finished = true
        return chunks
      },
      onEnd: () => ({ chunks: translate.onEnd(), finished })
    })
  }
  return transport.stream(response)
}

/**
 * L3 for a request `isartor proxy` read: its original host, asked with the client's own request and credential (no
 * provider key: the tool's own subscription pays, so the gateway's budgets, retries and fallbacks are not its).
 * The answer, in the API the client spoke, is handed on as OpenAI chat completions, which the caches keep.
 */
export const passThroughProvider = (limits: TransportLimits) => {
  const transportOf = (origin: PassThroughOrigin) =>
    makeTransport(origin.host, { apiKey: origin.credentials, ...limits })
  const complete = (
    request: ChatRequest,
    origin: PassThroughOrigin
  ): Effect.Effect<Answered<Completion>, ProviderError> => {
    const transport = transportOf(origin)
    return sent(origin, transport).pipe(
      Effect.flatMap((response) => transport.json<Record<string, unknown>>(response)),
      Effect.flatMap((answer) => completionOf(request, answer, transport)),
      Effect.map((value) => ({ value, provider: origin.host }))
    )
  }
  const stream = (
    request: ChatRequest,
    origin: PassThroughOrigin
  ): Effect.Effect<Answered<ReadableStream<Uint8Array>>, ProviderError> => {
    const transport = transportOf(origin)
    return sent(origin, transport).pipe(
      Effect.flatMap((response) => chunksOf(request, response, transport)),
      Effect.map((value) => ({ value, provider: origin.host }))
    )
  }
  /** `call` for a request with an origin; `otherwise` (the provider chain) for any other. */
  const orChain = <A>(
    call: (origin: PassThroughOrigin) => Effect.Effect<A, ProviderError>,
    otherwise: () => Effect.Effect<A, ProviderError>
  ) => PassThroughOrigin.use((origin) => origin === undefined ? otherwise() : call(origin))
  return { complete, stream, orChain }
}
