import { Context, Effect, Redacted } from "effect"
import type { SourceRequest } from "../../domain/ChatRequest.ts"
import { ProviderError, type ProviderErrorReason } from "../../domain/errors.ts"
import type { ProviderSettings } from "./ProviderDefinition.ts"
import { type Redactor, relayStream, type StreamTranslation, translateStream } from "./streams.ts"

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
  // Key-shaped tokens (sk-…, sk-ant-…, xai-…, gsk_…, AIza…), not words that merely start alike ("skipping").
  return withoutKey.replace(/\b(?:(?:sk|xai|gsk|key)[-_][A-Za-z0-9_*\-]{6,}|AIza[A-Za-z0-9_\-]{20,})/g, "[redacted]")
    .slice(0, 500)
}

/** The message of an error body in any of the providers' shapes (OpenAI, Anthropic, Gemini, Ollama). */
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

/** What the providers call upstream with: `fetch`'s shape, for the one kind of call they make. */
export type UpstreamFetchFunction = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }
) => Promise<Response>

/**
 * The upstream calls' `fetch`: the global one, unless the runtime injects a faster way (Node 20's `fetch` cost a
 * miss more than everything else the gateway does; runtimes/node.ts gives undici's pooled `request`).
 */
export const UpstreamFetch = Context.Reference<UpstreamFetchFunction>("isartor/UpstreamFetch", {
  defaultValue: () => (url, init) => fetch(url, init)
})

/** A body already serialised (the client's own bytes, passed through): posted as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * The client's request in its own API, for an upstream that speaks it: its exact bytes when the model stays, else
 * the same body with the model mapped.
 */
export const sourcePayload = (source: SourceRequest, model: string): JsonText | Readonly<Record<string, unknown>> =>
  source.body.model === model ? new JsonText(source.text) : { ...source.body, model }

export interface Transport {
  readonly fail: (
    reason: ProviderErrorReason,
    message: string,
    extra?: { upstreamStatus?: number; retryAfterMs?: number }
  ) => ProviderError
  /** The failure of a call to a provider that needs a key and has none, naming the variable that sets it. */
  readonly notConfigured: (keyVariable: string) => ProviderError
  /**
   * The JSON answer when it has the shape `isWellFormed` checks, else an upstream failure naming what it is not:
   * a 200 whose body no renderer or cache can use is never an answer.
   */
  readonly wellFormedJson: <A>(
    response: Response,
    isWellFormed: (answer: unknown) => answer is A,
    notWhat: string
  ) => Effect.Effect<A, ProviderError>
  /** POSTs JSON; a non-2xx answer becomes a `ProviderError` whose reason follows the status. */
  readonly post: (url: string, headers: Record<string, string>, body: unknown) => Effect.Effect<Response, ProviderError>
  readonly json: <A>(response: Response) => Effect.Effect<A, ProviderError>
  /**
   * A streamed answer as OpenAI chunk SSE: the upstream's own, or re-framed by `translation`. Either way its error
   * events are scrubbed like any error message, an error event is its last, and a broken read ends it with one.
   */
  readonly stream: (
    response: Response,
    translation?: StreamTranslation
  ) => Effect.Effect<ReadableStream<Uint8Array>, ProviderError>
}

/** The HTTP plumbing every provider shares: timeout, error mapping, credential scrubbing. */
export const makeTransport = (
  provider: string,
  settings: Pick<ProviderSettings, "apiKey" | "timeoutMs">
): Transport => {
  const fail: Transport["fail"] = (reason, message, extra = {}) =>
    new ProviderError({ provider, reason, message: scrub(message, settings.apiKey), ...extra })
  const key = Redacted.value(settings.apiKey)
  const redact: Redactor = {
    error: (text) => scrub(text, settings.apiKey),
    // As in `scrub`: a key too short to be a key is not looked for in every chunk of every answer.
    text: key.length >= 4 ? (text) => (text.includes(key) ? text.split(key).join("[redacted]") : text) : (text) => text
  }
  const json = <A>(response: Response) =>
    Effect.tryPromise({
      try: () => response.json() as Promise<A>,
      catch: () =>
        fail("Upstream", "upstream answered with a body that is not JSON", { upstreamStatus: response.status })
    })
  return {
    fail,
    notConfigured: (keyVariable) =>
      fail("NotConfigured", `no provider key is configured for ${provider}: set ${keyVariable}`),
    wellFormedJson: (response, isWellFormed, notWhat) =>
      Effect.flatMap(json<unknown>(response), (answer) =>
        isWellFormed(answer)
          ? Effect.succeed(answer)
          : Effect.fail(fail("Upstream", `upstream answer is not ${notWhat}`, { upstreamStatus: response.status }))),
    post: (url, headers, body) =>
      Effect.gen(function*() {
        // Serialised before the call: a body that cannot be serialised is not a network failure to retry.
        const payload = body instanceof JsonText ? body.text : JSON.stringify(body)
        const upstreamFetch = yield* UpstreamFetch
        const response = yield* Effect.tryPromise({
          // One timeout signal and nothing more: on Node 20 every extra AbortController/AbortSignal.any costs the
          // miss path a measurable share of its throughput.
          try: () =>
            upstreamFetch(url, {
              method: "POST",
              headers: { "content-type": "application/json", ...headers },
              body: payload,
              signal: AbortSignal.timeout(settings.timeoutMs)
            }),
          catch: (error) =>
            error instanceof DOMException && error.name === "TimeoutError"
              ? fail("Timeout", `no answer within ${settings.timeoutMs / 1000} s`)
              : fail(
                "Unreachable",
                `cannot reach ${URL.canParse(url) ? new URL(url).host : url}: ${
                  error instanceof Error
                    ? (error.cause instanceof Error ? error.cause.message : error.message)
                    : String(error)
                }`
              )
        })
        if (response.ok) return response
        const message = yield* Effect.promise(() => upstreamMessage(response))
        const retryAfter = retryAfterMs(response.headers)
        return yield* fail(reasonFor(response.status), message, {
          upstreamStatus: response.status,
          ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {})
        })
      }),
    json,
    stream: (response, translation) => {
      const body = response.body
      if (body === null) {
        return Effect.fail(fail("Upstream", "upstream stream has no body", { upstreamStatus: response.status }))
      }
      return Effect.succeed(translation ? translateStream(body, redact, translation) : relayStream(body, redact))
    }
  }
}
