import { Effect, Redacted } from "effect"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { isWellFormed } from "../../domain/Completion.ts"
import type { ProviderError } from "../../domain/errors.ts"
import { untranslatedFields } from "../../formats/anthropic/request.ts"
import { chatEndpoint, embeddingsEndpoint } from "../../transport/endpoints.ts"
import { makeTransport, sourcePayload } from "../../transport/http.ts"
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

/** The shared base: any server that speaks OpenAI Chat Completions, JSON and SSE. Bodies pass through as they are. */
export const makeOpenAICompatible = (options: OpenAICompatibleOptions, settings: ProviderSettings): ProviderClient => {
  const transport = makeTransport(options.id, { apiKey: settings.apiKey, ...settings.limits })
  const url = (options.endpoint ?? chatEndpoint)(settings.url || options.defaultUrl, settings)
  const key = Redacted.value(settings.apiKey)
  const configured = key !== "" || !options.requiresKey
  const headers = {
    ...(key !== "" ? (options.headers ?? ((k) => ({ authorization: `Bearer ${k}` })))(key, settings) : {})
  }

  const notConfigured = () => Effect.fail(transport.notConfigured(settings.keyVariable))

  const send = (request: ChatRequest, stream: boolean) => {
    if (!configured) return notConfigured()
    const accept = stream ? "text/event-stream" : "application/json"
    const source = request.source
    // An OpenAI client's request goes as it came, with its organisation and project unless the gateway sets its own.
    if (source?.format === "openai") {
      return transport.post(
        url,
        { ...source.headers, accept, ...headers },
        sourcePayload(source, settings.model ?? request.model)
      )
    }
    const { stream: _stream, stream_options: streamOptions, ...rest } = request.body
    const body = {
      ...rest,
      ...(settings.model ? { model: settings.model } : {}),
      ...(stream ? { stream: true, ...(streamOptions !== undefined ? { stream_options: streamOptions } : {}) } : {})
    }
    const post = transport.post(url, { accept, ...headers }, body)
    // An Anthropic client's fields with no Chat Completions counterpart (top_k, container, mcp_servers…): one line.
    const dropped = source?.format === "anthropic" ? untranslatedFields(source.body, "fromAnthropic") : []
    return dropped.length === 0
      ? post
      : Effect.andThen(
        Effect.logDebug(`${options.id}: no Chat Completions counterpart, dropped: ${dropped.join(", ")}`),
        post
      )
  }

  const embeddingsUrl = embeddingsEndpoint(url)
  const responsesOptions = options.responses

  return {
    id: options.id,
    configured,
    ...(responsesOptions === undefined ? {} : {
      responses: (source, stream) => {
        if (!configured) return notConfigured()
        const responsesUrl = responsesOptions.endpoint(url, settings)
        const model = responsesOptions.model?.(settings) ?? settings.model ?? String(source.body.model ?? "")
        const payload = sourcePayload({ format: "openai", ...source }, model)
        const accept = stream ? "text/event-stream" : "application/json"
        return transport.post(responsesUrl, { ...source.headers, accept, ...headers }, payload).pipe(
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
    }),
    listModels: () => {
      if (!configured) return notConfigured()
      const modelsUrl = options.modelsEndpoint?.(url, settings) ?? url.replace(/\/chat\/completions$/, "/models")
      return Effect.asVoid(transport.get(modelsUrl, { accept: "application/json", ...headers }))
    },
    embed: (body) => {
      if (!configured) return notConfigured()
      return transport.post(embeddingsUrl, { accept: "application/json", ...headers }, {
        ...body,
        ...(settings.model ? { model: settings.model } : {})
      }).pipe(
        Effect.flatMap((response) => transport.wellFormedJson(response, isEmbeddingList, "an embedding list (no data)"))
      )
    },
    complete: (request) =>
      send(request, false).pipe(
        Effect.flatMap((response) =>
          transport.wellFormedJson(response, isWellFormed, "a chat completion (no id, choices or message)")
        ),
        Effect.withSpan("Provider.complete", { attributes: { provider: options.id } }, { captureStackTrace: false })
      ),
    stream: (request) =>
      send(request, true).pipe(
        Effect.flatMap((response) => transport.stream(response)),
        Effect.withSpan("Provider.stream", { attributes: { provider: options.id } }, { captureStackTrace: false })
      )
  }
}
