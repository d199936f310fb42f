import { Effect, Redacted } from "effect"
import type { ChatRequest } from "../ChatRequest.ts"
import type { Completion } from "../Completion.ts"
import { ProviderError, type ProviderErrorReason } from "../errors.ts"
import type { ProviderClient, ProviderSettings } from "./ProviderDefinition.ts"

/** `…/v1` and `…/v1/` mean the chat endpoint under them; a full endpoint URL is used as given. */
export const chatEndpoint = (url: string): string => {
  const trimmed = url.replace(/\/+$/, "")
  return /\/v\d+[a-z]*$/.test(trimmed) ? `${trimmed}/chat/completions` : trimmed
}

const reasonFor = (status: number): ProviderErrorReason => {
  if (status === 429) return "RateLimited"
  if (status === 401 || status === 403) return "Unauthorized"
  if (status === 404) return "NotFound"
  if (status >= 400 && status < 500) return "BadRequest"
  return "Upstream"
}

/** `Retry-After` in seconds or as an HTTP date, or OpenAI's `retry-after-ms`. */
export const retryAfterMs = (headers: Headers): number | undefined => {
  const ms = Number(headers.get("retry-after-ms"))
  if (headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms
  const value = headers.get("retry-after")
  if (value === null) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/** Removes anything that looks like a credential from text that came from upstream or the network. */
export const scrub = (text: string, apiKey: Redacted.Redacted<string>): string => {
  const key = Redacted.value(apiKey)
  const withoutKey = key.length >= 4 ? text.split(key).join("[redacted]") : text
  return withoutKey.replace(/\b(sk|xai|gsk|key)-[A-Za-z0-9_*\-]{6,}/g, "[redacted]").slice(0, 500)
}

const upstreamMessage = async (response: Response): Promise<string> => {
  const text = await response.text().catch(() => "")
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
    if (typeof parsed.error === "string") return parsed.error
    if (typeof parsed.error?.message === "string") return parsed.error.message
    if (typeof parsed.message === "string") return parsed.message
  } catch {
    // not JSON: the text itself is the message
  }
  return text.trim() || response.statusText || `HTTP ${response.status}`
}

export interface OpenAICompatibleOptions {
  readonly id: string
  /** Headers that carry the key; Bearer by default. */
  readonly authHeaders?: (apiKey: string) => Record<string, string>
}

/** The shared base: any server that speaks OpenAI Chat Completions, JSON and SSE. */
export const makeOpenAICompatible = (options: OpenAICompatibleOptions, settings: ProviderSettings): ProviderClient => {
  const endpoint = chatEndpoint(settings.url)
  const key = Redacted.value(settings.apiKey)
  const configured = key !== ""
  const auth = configured ? (options.authHeaders ?? ((k) => ({ authorization: `Bearer ${k}` })))(key) : {}
  const fail = (reason: ProviderErrorReason, message: string, extra: { upstreamStatus?: number; retryAfterMs?: number } = {}) =>
    new ProviderError({ provider: options.id, reason, message: scrub(message, settings.apiKey), ...extra })

  const send = (request: ChatRequest, stream: boolean) =>
    Effect.gen(function*() {
      if (!configured) {
        return yield* fail("NotConfigured", "no provider key is configured: set ISARTOR__EXTERNAL_LLM_API_KEY")
      }
      const body: Record<string, unknown> = { ...request.body }
      if (stream) body.stream = true
      else delete body.stream
      if (!stream) delete body.stream_options
      const response = yield* Effect.tryPromise({
        try: (signal) =>
          fetch(endpoint, {
            method: "POST",
            headers: { "content-type": "application/json", accept: stream ? "text/event-stream" : "application/json", ...auth },
            body: JSON.stringify(body),
            signal: AbortSignal.any([signal, AbortSignal.timeout(settings.timeoutMs)])
          }),
        catch: (error) =>
          error instanceof DOMException && error.name === "TimeoutError"
            ? fail("Timeout", `no answer within ${settings.timeoutMs / 1000} s`)
            : fail("Unreachable", `cannot reach ${new URL(endpoint).host}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`)
      })
      if (!response.ok) {
        const message = yield* Effect.promise(() => upstreamMessage(response))
        const retryAfter = retryAfterMs(response.headers)
        return yield* fail(reasonFor(response.status), message, {
          upstreamStatus: response.status,
          ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {})
        })
      }
      return response
    })

  return {
    id: options.id,
    configured,
    complete: (request) =>
      send(request, false).pipe(
        Effect.flatMap((response) =>
          Effect.tryPromise({
            try: () => response.json() as Promise<Completion>,
            catch: () => fail("Upstream", "upstream answered with a body that is not JSON", { upstreamStatus: response.status })
          })
        ),
        Effect.flatMap((completion) =>
          Array.isArray(completion?.choices)
            ? Effect.succeed(completion)
            : Effect.fail(fail("Upstream", "upstream answer has no choices", { upstreamStatus: 200 }))
        ),
        Effect.withSpan("Provider.complete", { attributes: { provider: options.id } })
      ),
    stream: (request) =>
      send(request, true).pipe(
        Effect.flatMap((response) =>
          response.body
            ? Effect.succeed(response.body)
            : Effect.fail(fail("Upstream", "upstream stream has no body", { upstreamStatus: response.status }))
        ),
        Effect.withSpan("Provider.stream", { attributes: { provider: options.id } })
      )
  }
}
