import { Context, Effect, Redacted } from "effect"
import type { IncomingHttpHeaders } from "node:http"
import { request as httpsRequest } from "node:https"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"
import { type Completion, isWellFormed } from "../../core/domain/Completion.ts"
import { ProviderError, type ProviderErrorReason } from "../../core/domain/errors.ts"
import { fromAnthropicMessage } from "../../core/formats/anthropic/response.ts"
import { anthropicStreamToOpenAI } from "../../core/formats/anthropic/stream.ts"
import type { AnthropicMessage } from "../../core/formats/anthropic/wire.ts"
import { fromGeminiResponse, geminiStreamToOpenAI } from "../../core/formats/gemini.ts"
import type { Provider } from "../../core/providers/Provider.ts"
import {
  makeTransport,
  MAX_ERROR_BODY_BYTES,
  readBounded,
  type Transport,
  type TransportLimits
} from "../../core/transport/http.ts"
import { webStreamOf } from "../../runtimes/nodeFetch.ts"
import { unwrapCloudCode, type Wire } from "./wire.ts"

/** Where an intercepted request was going: the original host, and where it really is (tests resolve names). */
export interface Origin {
  readonly host: string
  readonly port: number
  readonly connectHost: string
  readonly connectPort: number
}

/** One intercepted request as the client sent it, for the original host if the caches cannot answer it. */
export interface Exchange extends Origin {
  readonly wire: Wire
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The client's credential: scrubbed from any message that quotes it. */
  readonly credential: Redacted.Redacted<string>
  /** The host's refusal, as it sent it: the tool gets that, not the gateway's translation of it. */
  refusal?: { readonly status: number; readonly headers: Record<string, string>; readonly body: Buffer }
}

/** The request the pipeline is answering now: its L3 sends exactly this to exactly this host. */
export const CurrentExchange = Context.Reference<Exchange | undefined>("isartor/proxy/CurrentExchange", {
  defaultValue: () => undefined
})

/** Headers of one connection (RFC 9110 § 7.6.1), never forwarded from one hop to the next. */
export const CONNECTION_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

/** What a re-sent request or answer leaves out: its connection's headers, and the host and length fetch sets anew. */
export const HOP_BY_HOP = new Set([...CONNECTION_HEADERS, "host", "content-length"])

export const passable = (headers: IncomingHttpHeaders): Record<string, string | Array<string>> =>
  Object.fromEntries(
    Object.entries(headers).filter((entry): entry is [string, string | Array<string>] =>
      entry[1] !== undefined && !HOP_BY_HOP.has(entry[0].toLowerCase())
    )
  )

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

/** The client's own request, its own bytes and headers, to the original host (its certificate verified). */
const sendToHost = (exchange: Exchange, upstreamCa: string | ReadonlyArray<string> | undefined, timeoutMs: number) =>
  new Promise<Response>((resolve, reject) => {
    const outgoing = httpsRequest({
      host: exchange.connectHost,
      port: exchange.connectPort,
      servername: exchange.host,
      method: "POST",
      path: exchange.path,
      headers: {
        ...passable(exchange.headers),
        // The answer is read here (to cache it): not compressed.
        "accept-encoding": "identity",
        host: exchange.port === 443 ? exchange.host : `${exchange.host}:${exchange.port}`,
        "content-length": String(exchange.body.length)
      },
      ...(upstreamCa === undefined ? {} : { ca: upstreamCa as string | Array<string> })
    }, (answer) => {
      clearTimeout(timer)
      const headers = new Headers()
      for (const [name, value] of Object.entries(passable(answer.headers))) {
        for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one)
      }
      const status = answer.statusCode ?? 502
      const body = status === 204 || status === 304
        ? null
        : webStreamOf(answer)
      resolve(new Response(body, { status: status < 200 || status > 599 ? 502 : status, headers }))
    })
    // Until the host answers; a stream then takes as long as it takes.
    const timer = setTimeout(() => outgoing.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs)
    outgoing.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    outgoing.end(exchange.body)
  })

const missing = new ProviderError({
  provider: "isartor-proxy",
  reason: "NotConfigured",
  message: "no intercepted request to pass on (the proxy's L3 answers only requests the proxy read)"
})

/**
 * L3 of the proxy's pipeline: the original host, asked with the client's own request and credentials (no provider
 * key: the tool's own subscription pays). Its answer is read in the wire format the client spoke and handed to the
 * pipeline as OpenAI chat completions (a whole one, or chunk SSE), which is what the caches keep. The host's
 * refusals are kept on the exchange, so the tool gets them as the host sent them; there are no retries and no
 * fallback, since the host and the credential are the client's.
 */
export const passThroughProvider = (options: {
  readonly upstreamCa?: string | ReadonlyArray<string> | undefined
  /** The gateway's bounds on upstream calls; `timeoutMs` until the host answers. */
  readonly limits: TransportLimits
}): Provider["Service"] => {
  const send = (exchange: Exchange, transport: Transport) =>
    Effect.gen(function*() {
      const response = yield* Effect.tryPromise({
        try: () => sendToHost(exchange, options.upstreamCa, options.limits.timeoutMs),
        catch: (error) => transport.fail("Unreachable", `cannot reach ${exchange.host}: ${(error as Error).message}`)
      })
      if (response.ok) return response
      // The host's refusal goes to the tool as it came, up to the bound of any error body.
      const text = yield* Effect.promise(() =>
        readBounded(response.body, MAX_ERROR_BODY_BYTES, "truncate").catch(() => "")
      )
      const body = Buffer.from(text)
      const headers: Record<string, string> = {}
      response.headers.forEach((value, name) => (headers[name] = value))
      exchange.refusal = { status: response.status, headers, body }
      return yield* transport.fail(reasonFor(response.status), `${exchange.host} answered ${response.status}`, {
        upstreamStatus: response.status
      })
    })
  const withExchange = <A>(call: (exchange: Exchange, transport: Transport) => Effect.Effect<A, ProviderError>) =>
    Effect.gen(function*() {
      const exchange = yield* CurrentExchange
      if (exchange === undefined) return yield* missing
      return yield* call(
        exchange,
        makeTransport(exchange.host, { apiKey: exchange.credential, ...options.limits })
      )
    })

  const complete = (request: ChatRequest) =>
    withExchange((exchange, transport) =>
      send(exchange, transport).pipe(
        Effect.flatMap((response) => transport.json<Record<string, unknown>>(response)),
        Effect.flatMap((answer): Effect.Effect<Completion, ProviderError> => {
          if (exchange.wire === "anthropic") return Effect.succeed(fromAnthropicMessage(answer as AnthropicMessage))
          if (exchange.wire === "gemini") return Effect.succeed(fromGeminiResponse(answer, request.model))
          if (exchange.wire === "cloudcode") {
            return Effect.succeed(fromGeminiResponse(unwrapCloudCode(answer), request.model))
          }
          return isWellFormed(answer)
            ? Effect.succeed(answer)
            : Effect.fail(transport.fail("Upstream", "the host's answer is not a chat completion"))
        })
      )
    )

  const stream = (request: ChatRequest) =>
    withExchange((exchange, transport) =>
      send(exchange, transport).pipe(Effect.flatMap((response) => {
        if (exchange.wire === "anthropic") {
          const translate = anthropicStreamToOpenAI(false, true)
          return transport.stream(response, {
            onEvent: (data) => translate.onEvent(data),
            onEnd: () => ({ chunks: [], finished: translate.finished() })
          })
        }
        if (exchange.wire === "gemini" || exchange.wire === "cloudcode") {
          const translate = geminiStreamToOpenAI(request.model, true)
          const unwrap = exchange.wire === "cloudcode"
            ? (data: string) => JSON.stringify(unwrapCloudCode(JSON.parse(data) as Record<string, unknown>))
            : (data: string) => data
          let finished = false
          return transport.stream(response, {
            onEvent: (data) => {
              const chunks = translate.onEvent(unwrap(data))
              if (
                chunks.some((chunk) =>
                  (chunk as { choices?: Array<{ finish_reason?: unknown }> }).choices?.some((c) => c.finish_reason)
                )
              ) {
                finished = true
              }
              return chunks
            },
            onEnd: () => ({ chunks: translate.onEnd(), finished })
          })
        }
        return transport.stream(response)
      }))
    )

  return {
    id: "isartor-proxy",
    configured: true,
    chain: ["the original host"],
    complete: (request) => Effect.map(complete(request), (value) => ({ value, provider: "original-host" })),
    stream: (request) => Effect.map(stream(request), (value) => ({ value, provider: "original-host" })),
    speaksResponses: () => false,
    responses: () =>
      Effect.fail(
        new ProviderError({ provider: "isartor-proxy", reason: "BadRequest", message: "responses are passed on" })
      ),
    embed: () =>
      Effect.fail(
        new ProviderError({ provider: "isartor-proxy", reason: "BadRequest", message: "embeddings are passed on" })
      ),
    countTokens: undefined,
    status: Effect.succeed([])
  }
}
