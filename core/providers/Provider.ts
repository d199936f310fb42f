import { Context, Effect, Layer, Redacted } from "effect"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { Completion } from "../domain/Completion.ts"
import { ConfigInvalid, ProviderError } from "../domain/errors.ts"
import { transportLimits } from "../transport/http.ts"
import { isProviderId, providerConfigKey, type ProviderId, providers } from "./registry.ts"
import type { ProviderClient, ProviderSettings, ResponsesSource } from "./shared/ProviderDefinition.ts"
import { type RetryPolicy, withRetries } from "./shared/retry.ts"

/** An upstream answer and the provider that gave it. */
export interface Answered<A> {
  readonly value: A
  readonly provider: string
}

interface Link {
  readonly id: ProviderId
  readonly settings: ProviderSettings
}

const fallbackIds = (config: AppConfigShape) => config.fallback_providers

/** The primary provider, then each fallback, with the settings each is called with. */
const chainOf = (config: AppConfigShape): Array<Link> => {
  const limits = transportLimits(config)
  const primary = config.llm_provider
  return [
    {
      id: primary,
      settings: {
        url: config.external_llm_url,
        apiKey: config.external_llm_api_key,
        keyVariable: "ISARTOR__EXTERNAL_LLM_API_KEY",
        limits,
        model: undefined,
        config
      }
    },
    ...fallbackIds(config).filter(isProviderId).map((id): Link => {
      const table = config.providers[providerConfigKey(id)]
      const keyVariable = `ISARTOR__PROVIDERS__${providerConfigKey(id).toUpperCase()}__API_KEY`
      return {
        id,
        settings: {
          url: table.url,
          apiKey: table.api_key,
          keyVariable,
          limits,
          model: table.model || undefined,
          config
        }
      }
    })
  ]
}

/** After every provider failed: 429 only when all were rate-limited, else 502, naming each provider's reason. */
const exhausted = (errors: ReadonlyArray<ProviderError>): ProviderError => {
  if (errors.length === 1) return errors[0]!
  const allRateLimited = errors.every((error) => error.reason === "RateLimited")
  const waits = errors.flatMap((error) => (error.retryAfterMs !== undefined ? [error.retryAfterMs] : []))
  return new ProviderError({
    provider: errors.map((error) => error.provider).join(", "),
    retried: true,
    reason: allRateLimited ? "RateLimited" : "Upstream",
    message: `every provider failed: ${
      errors.map((error) => `${error.provider} (${error.reason}: ${error.message})`).join("; ")
    }`,
    ...(allRateLimited && waits.length > 0 ? { retryAfterMs: Math.min(...waits) } : {})
  })
}

/** L3: the configured provider with retries, then the fallbacks in order. */
export class Provider extends Context.Service<Provider, {
  readonly id: string
  readonly configured: boolean
  readonly chain: ReadonlyArray<string>
  readonly complete: (request: ChatRequest) => Effect.Effect<Answered<Completion>, ProviderError>
  readonly stream: (request: ChatRequest) => Effect.Effect<Answered<ReadableStream<Uint8Array>>, ProviderError>
  /**
   * The Responses API passed through to the primary provider, with retries but no fallback (the client's body
   * means what it says only to a provider that speaks it); `undefined` when the primary does not speak it, and
   * `/v1/responses` is translated instead.
   */
  readonly responses:
    | ((source: ResponsesSource, stream: boolean) => Effect.Effect<
      Answered<Record<string, unknown> | ReadableStream<Uint8Array>>,
      ProviderError
    >)
    | undefined
  /**
   * OpenAI embeddings from the primary provider, with retries but no fallback: another provider's vectors come from
   * another model and would not compare with the ones the client already holds.
   */
  readonly embed: (
    body: Readonly<Record<string, unknown>>
  ) => Effect.Effect<Answered<Record<string, unknown>>, ProviderError>
  /**
   * The primary provider's own count of an Anthropic Messages body; `undefined` when it has none (it does not
   * speak the Anthropic API), and the caller estimates instead.
   */
  readonly countTokens: ((body: Readonly<Record<string, unknown>>) => Effect.Effect<number, ProviderError>) | undefined
}>()("isartor/Provider") {
  /**
   * Start-up checks: an unknown provider, a malformed key or a provider setting of the wrong shape stops the
   * gateway; a missing key only warns, and uncached requests then get a 502 that says so.
   */
  static readonly check = (config: AppConfigShape): Effect.Effect<ReadonlyArray<string>, ConfigInvalid> => {
    const problems: Array<string> = []
    const warnings: Array<string> = []
    const known = Object.keys(providers).join(", ")
    for (const id of fallbackIds(config)) {
      if (!isProviderId(id)) {
        problems.push(`ISARTOR__FALLBACK_PROVIDERS: ${JSON.stringify(id)} is not a provider; expected ${known}`)
      }
    }
    if (problems.length === 0) {
      for (const [position, link] of chainOf(config).entries()) {
        const definition = providers[link.id]
        const key = Redacted.value(link.settings.apiKey)
        if (key === "" && definition.requiresKey) {
          warnings.push(
            position === 0
              ? `no API key for provider ${link.id}: set ${link.settings.keyVariable}; until then requests the caches cannot answer get 502`
              : `no API key for fallback provider ${link.id}: set ${link.settings.keyVariable}; it is skipped until then`
          )
        }
        const keyProblem = key === "" ? undefined : definition.checkKey(key)
        if (keyProblem) problems.push(`${link.settings.keyVariable}: ${keyProblem}`)
      }
      for (const id of new Set([config.llm_provider, ...fallbackIds(config).filter(isProviderId)])) {
        problems.push(...(providers[id as ProviderId].checkSettings?.(config) ?? []))
      }
    }
    return problems.length > 0
      ? Effect.fail(new ConfigInvalid({ message: `invalid configuration:\n  ${problems.join("\n  ")}` }))
      : Effect.succeed(warnings)
  }

  static readonly layer = Layer.effect(
    Provider,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const policy: RetryPolicy = {
        maxRetries: config.l3_max_retries,
        baseDelayMs: config.l3_retry_base_ms,
        maxDelayMs: 60_000
      }
      const clients: Array<ProviderClient> = chainOf(config).map((link) => providers[link.id].make(link.settings))

      const firstAnswer = <A>(call: (client: ProviderClient) => Effect.Effect<A, ProviderError>) => {
        const tryFrom = (
          position: number,
          errors: ReadonlyArray<ProviderError>
        ): Effect.Effect<Answered<A>, ProviderError> => {
          const client = clients[position]
          if (client === undefined) return Effect.fail(exhausted(errors))
          // A fallback without a key is skipped (start-up said so): its NotConfigured must not turn the primary's
          // 429 into a 502, nor hide the primary's Retry-After.
          if (position > 0 && !client.configured) return tryFrom(position + 1, errors)
          return withRetries(call(client), policy).pipe(
            Effect.map((value): Answered<A> => ({ value, provider: client.id })),
            Effect.catchTag("ProviderError", (error) =>
              // Only failures another provider could fix move on; the client's own mistakes come back now.
              // A refused answer (a redirect, a body past its bound) is this provider's fault, not the request's.
              error.isRetryable || error.reason === "NotConfigured" || error.reason === "Refused"
                ? tryFrom(position + 1, [...errors, error])
                : Effect.fail(error))
          )
        }
        return tryFrom(0, [])
      }

      const primary = clients[0]!
      return Provider.of({
        id: primary.id,
        configured: primary.configured,
        chain: clients.map((client) => client.id),
        complete: (request) => firstAnswer((client) => client.complete(request)),
        stream: (request) => firstAnswer((client) => client.stream(request)),
        countTokens: primary.countTokens,
        responses: primary.responses === undefined ?
          undefined :
          (source, stream) =>
            withRetries(primary.responses!(source, stream), policy).pipe(
              Effect.map((value) => ({ value, provider: primary.id }))
            ),
        embed: (body) => {
          const embed = primary.embed
          if (embed === undefined) {
            return Effect.fail(
              new ProviderError({
                provider: primary.id,
                reason: "BadRequest",
                upstreamStatus: 400,
                message: `${primary.id} has no embeddings API; /v1/embeddings needs an OpenAI-compatible provider`
              })
            )
          }
          return withRetries(embed(body), policy).pipe(Effect.map((value) => ({ value, provider: primary.id })))
        }
      })
    })
  )
}
