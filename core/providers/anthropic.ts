import { Effect, Redacted } from "effect"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { Completion } from "../domain/Completion.ts"
import { unanswerableByAnthropic } from "../formats/anthropic/options.ts"
import { toAnthropicRequest, untranslatedFields } from "../formats/anthropic/request.ts"
import { fromAnthropicMessage } from "../formats/anthropic/response.ts"
import { anthropicStreamToOpenAI } from "../formats/anthropic/stream.ts"
import { untranslatableTools } from "../formats/openai.ts"
import { makeTransport, sourcePayload, type Transport, type UpstreamReply } from "../transport/http.ts"
import { checkPrintableKey, type ProviderDefinition, type ProviderSettings } from "./shared/ProviderDefinition.ts"

export const ANTHROPIC_VERSION = "2023-06-01"

/**
 * An Anthropic Messages stream as OpenAI chunk SSE, with its usage when the request asks for it (an Anthropic
 * client's always does): this provider's, and `isartor proxy`'s for a host that speaks Anthropic.
 */
export const anthropicChunks = (request: ChatRequest, response: UpstreamReply | Response, transport: Transport) => {
  const includeUsage = (request.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true
  const translate = anthropicStreamToOpenAI(includeUsage, request.source?.format === "anthropic")
  return transport.stream(response, {
    onEvent: (data) => translate.onEvent(data),
    // Only `message_stop` says the answer is whole; without it there is no `[DONE]`.
    onEnd: () => ({ chunks: [], finished: translate.finished() })
  })
}

/**
 * What every call to one configured Anthropic shares: its transport and Messages endpoint, whether a key is set, and
 * its headers. The key lives only inside `headers`, a closure, so logging or failing with a connection shows no key.
 */
interface Connection {
  readonly settings: ProviderSettings
  readonly transport: Transport
  readonly url: string
  readonly configured: boolean
  /** The key and version headers, then a client's forwarded ones, then the key again: a client never replaces it. */
  readonly headers: (forwarded?: Readonly<Record<string, string>>) => Record<string, string>
}

export const connect = (settings: ProviderSettings): Connection => {
  const base = (settings.url || "https://api.anthropic.com").replace(/\/+$/, "")
  const key = Redacted.value(settings.apiKey)
  const keyHeader = { "x-api-key": key }
  const versioned = { ...keyHeader, "anthropic-version": ANTHROPIC_VERSION }
  return {
    settings,
    transport: makeTransport("anthropic", { apiKey: settings.apiKey, ...settings.limits }),
    url: base.endsWith("/messages") ? base : `${base.replace(/\/v1$/, "")}/v1/messages`,
    configured: key !== "",
    headers: (forwarded) => ({ ...versioned, ...forwarded, ...keyHeader })
  }
}

/** POSTs a chat request: an Anthropic client's as it came, any other's translated to the Messages API. */
const sendMessages = (connection: Connection, request: ChatRequest, model: string, stream: boolean) => {
  const { transport, url, headers } = connection
  if (!connection.configured) {
    return Effect.fail(transport.notConfigured(connection.settings.keyVariable))
  }
  const accept = stream ? "text/event-stream" : "application/json"
  const source = request.source
  // An Anthropic client's request goes as it came: cache_control, thinking, betas and all.
  if (source?.format === "anthropic") {
    return transport.post(
      url,
      { ...headers(source.headers), accept },
      sourcePayload(source, model)
    )
  }
  const untranslatable = untranslatableTools(request.body, "anthropic") ?? unanswerableByAnthropic(request.body)
  if (untranslatable) return Effect.fail(transport.fail("BadRequest", untranslatable, { upstreamStatus: 400 }))
  const post = transport.post(url, { ...headers(), accept }, toAnthropicRequest(request.body, { model, stream }))
  const dropped = untranslatedFields(request.body, "toAnthropic")
  return dropped.length === 0
    ? post
    : Effect.andThen(
      Effect.logDebug(`anthropic: no Messages API counterpart, dropped: ${dropped.join(", ")}`),
      post
    )
}

/** The client's body as it wrote it (same API), with the provider's model when one is configured. */
const countTokensWith = (connection: Connection) => (body: Readonly<Record<string, unknown>>) => {
  const { settings, transport, url, headers } = connection
  if (!connection.configured) {
    return Effect.fail(transport.notConfigured(settings.keyVariable))
  }
  const { max_tokens: _max, stream: _stream, ...counted } = body
  return transport.post(
    `${url}/count_tokens`,
    headers(),
    settings.model ? { ...counted, model: settings.model } : counted
  )
    .pipe(
      Effect.flatMap((response) => transport.json<{ input_tokens?: unknown }>(response)),
      Effect.flatMap((counted) =>
        typeof counted.input_tokens === "number"
          ? Effect.succeed(counted.input_tokens)
          : Effect.fail(transport.fail("Upstream", "count_tokens answered without input_tokens"))
      )
    )
}

/** Anthropic Messages API: `x-api-key`, `anthropic-version`, its own SSE event stream. */
export const anthropic: ProviderDefinition = {
  id: "anthropic",
  requiresKey: true,
  checkKey: checkPrintableKey,
  make: (settings) => {
    const connection = connect(settings)
    const { transport, url, headers, configured } = connection
    return {
      id: "anthropic",
      configured,
      complete: (request) =>
        sendMessages(connection, request, settings.model ?? request.model, false).pipe(
          Effect.flatMap((response) => transport.json<Record<string, unknown>>(response)),
          Effect.map((message): Completion => fromAnthropicMessage(message)),
          Effect.withSpan("Provider.complete", { attributes: { provider: "anthropic" } }, { captureStackTrace: false })
        ),
      stream: (request) =>
        sendMessages(connection, request, settings.model ?? request.model, true).pipe(
          Effect.flatMap((response) => anthropicChunks(request, response, transport)),
          Effect.withSpan("Provider.stream", { attributes: { provider: "anthropic" } }, { captureStackTrace: false })
        ),
      listModels: () =>
        !configured
          ? Effect.fail(transport.notConfigured(settings.keyVariable))
          : Effect.asVoid(transport.get(url.replace(/\/messages$/, "/models"), headers())),
      countTokens: countTokensWith(connection)
    }
  }
}
