import { Effect, Redacted } from "effect"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { isWellFormed } from "../../domain/Completion.ts"
import type { ProviderError } from "../../domain/errors.ts"
import { untranslatedFields } from "../../formats/anthropic/request.ts"
import { chatEndpoint, embeddingsEndpoint } from "../../transport/endpoints.ts"
import { makeTransport, sourcePayload, type Transport } from "../../transport/http.ts"
import type { ProviderClient, ProviderSettings } from "./ProviderDefinition.ts"

export interface OpenAICompatibleOptions {
  readonly id: string
  /** The public API, used when no URL is configured. */
  readonly defaultUrl: string
  /** The endpoint to POST to, from the configured (or default) URL; `chatEndpoint` by default. */
  readonly endpoint?: (url: string, settings: ProviderSettings) => string
  /** Headers that carry the key and anything else the provider wants; Bearer by default. */
  readonly headers?: (apiKey: string, settings: ProviderSettings) => Record<string, string>
  readonly requiresKey: boolean
  /** Its models listing, from the chat endpoint; `…/models` beside `…/chat/completions` by default. */
  readonly modelsEndpoint?: (chatUrl: string, settings: ProviderSettings) => string
  /**
   * For a provider that speaks the Responses API: its endpoint from the chat endpoint, and the model it is asked
   * for (Azure: the deployment); absent for the others, whose Responses requests are translated.
   */
  readonly responses?: {
    readonly endpoint: (chatUrl: string, settings: ProviderSettings) => string
    readonly model?: (settings: ProviderSettings) => string
  }
}

const isObject = (answer: unknown): answer is Record<string, unknown> =>
  typeof answer === "object" && answer !== null && !Array.isArray(answer)
const isResponse = (answer: unknown): answer is Record<string, unknown> =>
  isObject(answer) && answer.object === "response" && Array.isArray(answer.output)
const isEmbeddingList = (answer: unknown): answer is Record<string, unknown> =>
  isObject(answer) && Array.isArray(answer.data)

/**
 * What every call of one configured provider shares: its transport, chat endpoint, whether it may be called, and its
 * headers. The key lives only inside `withKey`, a closure, so logging or failing with a base shows no key.
 */
interface Base {
  readonly options: OpenAICompatibleOptions
  readonly settings: ProviderSettings
  readonly transport: Transport
  readonly url: string
  readonly configured: boolean
  /** A call's headers with the key's last, so a client's forwarded ones never replace them. */
  readonly withKey: (headers: Readonly<Record<string, string>>) => Record<string, string>
  readonly notConfigured: () => Effect.Effect<never, ProviderError>
}

export const makeBase = (options: OpenAICompatibleOptions, settings: ProviderSettings): Base => {
  const transport = makeTransport(options.id, { apiKey: settings.apiKey, ...settings.limits })
  const key = Redacted.value(settings.apiKey)
  const keyHeaders = key !== "" ? (options.headers ?? ((k) => ({ authorization: `Bearer ${k}` })))(key, settings) : {}
  return {
    options,
    settings,
    transport,
    url: (options.endpoint ?? chatEndpoint)(settings.url || options.defaultUrl, settings),
    configured: key !== "" || !options.requiresKey,
    withKey: (headers) => ({ ...headers, ...keyHeaders }),
    notConfigured: () => Effect.fail(transport.notConfigured(settings.keyVariable))
  }
}

/** POSTs a chat request: an OpenAI client's as it came, any other's body rebuilt for Chat Completions. */
const sendChat = (base: Base, request: ChatRequest, stream: boolean) => {
  const { options, settings, transport, url, withKey } = base
  if (!base.configured) return base.notConfigured()
  const accept = stream ? "text/event-stream" : "application/json"
  const source = request.source
  // An OpenAI client's request goes as it came, with its organisation and project unless the gateway sets its own.
  if (source?.format === "openai") {
    return transport.post(
      url,
      withKey({ ...source.headers, accept }),
      sourcePayload(source, settings.model ?? request.model)
    )
  }
  const { stream: _stream, stream_options: streamOptions, ...rest } = request.body
  const body = {
    ...rest,
    ...(settings.model ? { model: settings.model } : {}),
    ...(stream ? { stream: true, ...(streamOptions !== undefined ? { stream_options: streamOptions } : {}) } : {})
  }
  const post = transport.post(url, withKey({ accept }), body)
  // An Anthropic client's fields with no Chat Completions counterpart (top_k, container, mcp_servers…): one line.
  const dropped = source?.format === "anthropic" ? untranslatedFields(source.body, "fromAnthropic") : []
  return dropped.length === 0
    ? post
    : Effect.andThen(
      Effect.logDebug(`${options.id}: no Chat Completions counterpart, dropped: ${dropped.join(", ")}`),
      post
    )
}

/** The Responses API call, for a provider that speaks it: the client's request goes as it came. */
const makeResponses = (
  base: Base,
  responsesOptions: NonNullable<OpenAICompatibleOptions["responses"]>
): NonNullable<ProviderClient["responses"]> =>
(source, stream) => {
  const { options, settings, transport, url, withKey } = base
  if (!base.configured) return base.notConfigured()
  const responsesUrl = responsesOptions.endpoint(url, settings)
  const model = responsesOptions.model?.(settings) ?? settings.model ?? String(source.body.model ?? "")
  const payload = sourcePayload(source, model)
  const accept = stream ? "text/event-stream" : "application/json"
  return transport.post(responsesUrl, withKey({ ...source.headers, accept }), payload).pipe(
    Effect.flatMap((
      response
    ): Effect.Effect<Record<string, unknown> | ReadableStream<Uint8Array>, ProviderError> =>
      stream
        ? transport.stream(response)
        : transport.wellFormedJson(response, isResponse, "a response (no output)")
    ),
    Effect.withSpan("Provider.responses", { attributes: { provider: options.id } }, { captureStackTrace: false })
  )
}

/** The models listing, a cheap call that proves the key and the URL. */
const makeListModels = (base: Base): NonNullable<ProviderClient["listModels"]> => () => {
  const { options, settings, transport, url, withKey } = base
  if (!base.configured) return base.notConfigured()
  const modelsUrl = options.modelsEndpoint?.(url, settings) ?? url.replace(/\/chat\/completions$/, "/models")
  return Effect.asVoid(transport.get(modelsUrl, withKey({ accept: "application/json" })))
}

/** Embeddings, at `…/embeddings` beside the chat endpoint. */
const makeEmbed = (base: Base): NonNullable<ProviderClient["embed"]> => {
  const { settings, transport, withKey } = base
  const embeddingsUrl = embeddingsEndpoint(base.url)
  return (body) => {
    if (!base.configured) return base.notConfigured()
    return transport.post(embeddingsUrl, withKey({ accept: "application/json" }), {
      ...body,
      ...(settings.model ? { model: settings.model } : {})
    }).pipe(
      Effect.flatMap((response) => transport.wellFormedJson(response, isEmbeddingList, "an embedding list (no data)"))
    )
  }
}

/** The shared base: any server that speaks OpenAI Chat Completions, JSON and SSE. Bodies pass through as they are. */
export const makeOpenAICompatible = (options: OpenAICompatibleOptions, settings: ProviderSettings): ProviderClient => {
  const base = makeBase(options, settings)
  const { transport } = base
  const span = (name: string) =>
    Effect.withSpan(name, { attributes: { provider: options.id } }, { captureStackTrace: false })
  return {
    id: options.id,
    configured: base.configured,
    ...(options.responses === undefined ? {} : { responses: makeResponses(base, options.responses) }),
    listModels: makeListModels(base),
    embed: makeEmbed(base),
    complete: (request) =>
      sendChat(base, request, false).pipe(
        Effect.flatMap((response) =>
          transport.wellFormedJson(response, isWellFormed, "a chat completion (no id, choices or message)")
        ),
        span("Provider.complete")
      ),
    stream: (request) =>
      sendChat(base, request, true).pipe(
        Effect.flatMap((response) => transport.stream(response)),
        span("Provider.stream")
      )
  }
}
