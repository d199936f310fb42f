import { Clock, Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { type BudgetHold, Budgets } from "../budgets/Budgets.ts"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { modelAliases, routingRules } from "../config/modelAliases.ts"
import type { PoolKeySpec } from "../config/poolLeaves.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { Completion } from "../domain/Completion.ts"
import { ConfigInvalid, ProviderError } from "../domain/errors.ts"
import { transportLimits } from "../transport/http.ts"
import { makeProviderLink, type ProviderLink, type ProviderStatus } from "./health/ProviderLink.ts"
import { isProviderId, providerConfigKey, type ProviderId, providers } from "./registry.ts"
import type { ProviderClient, ProviderSettings, ResponsesSource } from "./shared/ProviderDefinition.ts"
import { type RetryPolicy, withRetries } from "./shared/retry.ts"

/** An upstream answer and the provider that gave it. */
export interface Answered<A> {
  readonly value: A
  readonly provider: string
  /** What the request charged to its budgets: corrected to the answer's real usage once it is known. */
  readonly hold?: BudgetHold | undefined
}

interface Link {
  readonly id: ProviderId
  readonly role: ProviderStatus["role"]
  readonly settings: Omit<ProviderSettings, "apiKey">
  /** The plain key first (when set), then the pool's others. */
  readonly keys: ReadonlyArray<PoolKeySpec>
  /** Whether the first of `keys` is the plain key (`…_API_KEY`) rather than the first of the list (`…_API_KEYS`). */
  readonly plainKey: boolean
}

const fallbackIds = (config: AppConfigShape) => config.fallback_providers

const pooled = (key: Redacted.Redacted<string>, more: ReadonlyArray<PoolKeySpec>): ReadonlyArray<PoolKeySpec> =>
  Redacted.value(key) === "" ? more : [{ key, label: undefined, priority: undefined }, ...more]

/** A provider that serves as a fallback, or that only an alias names: its `[providers.<id>]` table. */
const tableLink = (config: AppConfigShape, id: ProviderId, role: Link["role"]): Link => {
  const table = config.providers[providerConfigKey(id)]
  const keyVariable = `ISARTOR__PROVIDERS__${providerConfigKey(id).toUpperCase()}__API_KEY`
  return {
    id,
    role,
    settings: {
      url: table.url,
      keyVariable,
      limits: transportLimits(config),
      model: table.model || undefined,
      config
    },
    keys: pooled(table.api_key, table.api_keys),
    plainKey: Redacted.value(table.api_key) !== ""
  }
}

/** The primary provider, then each fallback, then any provider only an alias names, with their settings. */
const linksOf = (config: AppConfigShape): Array<Link> => {
  const primary = config.llm_provider
  const chain: Array<Link> = [
    {
      id: primary,
      role: "primary",
      settings: {
        url: config.external_llm_url,
        keyVariable: "ISARTOR__EXTERNAL_LLM_API_KEY",
        limits: transportLimits(config),
        model: undefined,
        config
      },
      keys: pooled(config.external_llm_api_key, config.external_llm_api_keys),
      plainKey: Redacted.value(config.external_llm_api_key) !== ""
    },
    ...fallbackIds(config).filter(isProviderId).map((id) => tableLink(config, id, "fallback"))
  ]
  const aliased = [...modelAliases(config).values(), ...routingRules(config).values()].flatMap(({ provider }) =>
    provider !== undefined && isProviderId(provider) && !chain.some((link) => link.id === provider) ? [provider] : []
  )
  return [...chain, ...[...new Set(aliased)].map((id) => tableLink(config, id, "alias"))]
}

/**
 * After every provider failed: 429 when all were rate-limited, 503 when all are resting (rate-limited or their breaker
 * open), else 502, naming each provider's reason; the soonest retry time when waiting helps.
 */
const exhausted = (errors: ReadonlyArray<ProviderError>): ProviderError => {
  if (errors.length === 1) return errors[0]!
  // Every provider's budget (or the caller's) is spent: the client hears of the budgets, not of a provider failure.
  if (errors.every((error) => error.reason === "BudgetExceeded")) {
    return new ProviderError({
      provider: errors.map((error) => error.provider).join(", "),
      retried: true,
      reason: "BudgetExceeded",
      message: errors.map((error) => error.message).join("; "),
      retryAfterMs: Math.min(...errors.map((error) => error.retryAfterMs ?? 1000))
    })
  }
  const allRateLimited = errors.every((error) => error.reason === "RateLimited")
  const allResting = errors.every((error) => error.reason === "RateLimited" || error.reason === "CircuitOpen")
  const waits = errors.flatMap((error) => (error.retryAfterMs !== undefined ? [error.retryAfterMs] : []))
  return new ProviderError({
    provider: errors.map((error) => error.provider).join(", "),
    retried: true,
    reason: allRateLimited ? "RateLimited" : allResting ? "CircuitOpen" : "Upstream",
    message: `every provider failed: ${
      errors.map((error) => `${error.provider} (${error.reason}: ${error.message})`).join("; ")
    }`,
    ...(allResting && waits.length > 0 ? { retryAfterMs: Math.min(...waits) } : {})
  })
}

/** Failures another provider could fix move on; the client's own mistakes come back now. */
export const movesOn = (error: ProviderError) =>
  // A refused answer (a redirect, a body past its bound) is this provider's fault, not the request's.
  error.isRetryable || error.reason === "NotConfigured" || error.reason === "Refused" || error.reason === "CircuitOpen"

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
  /** Each provider's breaker, retry budget and keys (masked), for `/health` and `/admin/providers`. */
  readonly status: Effect.Effect<ReadonlyArray<ProviderStatus>>
}>()("isartor/Provider") {
  /**
   * Start-up checks: an unknown provider, a malformed key or a provider setting of the wrong shape stops the
   * gateway; a missing key only warns, and uncached requests then get a 502 that says so.
   */
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
      for (const link of linksOf(config)) {
        const definition = providers[link.id]
        const variable = link.settings.keyVariable
        if (link.keys.length === 0 && definition.requiresKey) {
          warnings.push(
            link.role === "primary"
              ? `no API key for provider ${link.id}: set ${variable}; until then requests the caches cannot answer get 502`
              : `no API key for ${link.role} provider ${link.id}: set ${variable}; it is skipped until then`
          )
        }
        for (const [position, { key }] of link.keys.entries()) {
          const keyProblem = definition.checkKey(Redacted.value(key))
          // A pooled key is named by its place in the list, never by its value.
          const listed = position - (link.plainKey ? 1 : 0)
          if (keyProblem) problems.push(`${variable}${listed < 0 ? "" : `S (key ${listed + 1})`}: ${keyProblem}`)
        }
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
      const clock = yield* Clock.Clock
      const budgets = yield* Budgets
      const policy: RetryPolicy = {
        maxRetries: config.l3_max_retries,
        baseDelayMs: config.l3_retry_base_ms,
        maxDelayMs: 60_000
      }
      const links = linksOf(config).map((link) =>
        makeProviderLink({
          ...link,
          definition: providers[link.id],
          strategy: config.key_strategy,
          cooldownMs: config.key_cooldown_secs * 1000,
          breakerCooloffMs: config.breaker_cooloff_secs * 1000,
          retryBudgetRatio: config.retry_budget_ratio,
          retryBudgetMinRetries: config.retry_budget_min_retries,
          clock
        })
      )
      // Every provider's breaker gauge exists from the start, at closed.
      yield* Effect.forEach(links, (link) => link.status, { discard: true })
      if (config.provider_health_check_secs > 0) {
        yield* Effect.forkScoped(
          Effect.forEach(links, (link) => link.check, { discard: true }).pipe(
            Effect.repeat(Schedule.spaced(Duration.seconds(config.provider_health_check_secs)))
          )
        )
      }
      const chain = links.filter((link) => link.role !== "alias")
      const primary = chain[0]!
      /** The links a request goes through: the default chain, or the provider its alias named, then the fallbacks. */
      const chainFor = (request: ChatRequest): ReadonlyArray<ProviderLink> => {
        const named = request.provider === undefined ? undefined : links.find((link) => link.id === request.provider)
        // A routing rule's target alone: when it fails, the pipeline sends the original request down the default chain.
        if (request.routedTier !== undefined) return [named ?? primary]
        return named === undefined ? chain : [named, ...chain.slice(1).filter((link) => link !== named)]
      }
      /** One provider's answer, with its retries within its budget. */
      const retried = <A>(
        link: ProviderLink,
        call: (client: ProviderClient) => Effect.Effect<A, ProviderError>,
        ownModel = true
      ) =>
        withRetries(link.attempt(call, ownModel), policy, link.budget).pipe(
          Effect.map((value): Answered<A> => ({ value, provider: link.id }))
        )

      const firstAnswer = <A>(
        request: ChatRequest,
        call: (client: ProviderClient) => Effect.Effect<A, ProviderError>
      ) => {
        const route = chainFor(request)
        const tryFrom = (
          position: number,
          errors: ReadonlyArray<ProviderError>
        ): Effect.Effect<Answered<A>, ProviderError> => {
          const link = route[position]
          if (link === undefined) return Effect.fail(exhausted(errors))
          // A fallback without a key is skipped (start-up said so): its NotConfigured must not turn the primary's
          // 429 into a 502, nor hide the primary's Retry-After.
          if (position > 0 && !link.configured) return tryFrom(position + 1, errors)
          // The provider an alias named is asked for the alias's model, not its own fallback model.
          const ownModel = !(position === 0 && request.provider !== undefined)
          const next = (error: ProviderError) =>
            movesOn(error) ? tryFrom(position + 1, [...errors, error]) : Effect.fail(error)
          if (!budgets.active) return retried(link, call, ownModel).pipe(Effect.catchTag("ProviderError", next))
          // A caller's `fallback` budget is checked at the first provider only: the next ones are where it falls back to.
          return budgets.admit(request, link.id, position === 0).pipe(
            Effect.flatMap((admission) =>
              admission._tag === "Skip"
                ? tryFrom(position + 1, [...errors, admission.error])
                : retried(link, call, ownModel).pipe(
                  Effect.map((answered): Answered<A> => ({ ...answered, hold: admission.hold })),
                  Effect.catchTag(
                    "ProviderError",
                    (error) => Effect.andThen(budgets.settle(admission.hold, undefined), next(error))
                  )
                )
            )
          )
        }
        return tryFrom(0, [])
      }

      const responses = primary.client.responses
      const embed = primary.client.embed
      const countTokens = primary.client.countTokens
      return Provider.of({
        id: primary.id,
        configured: primary.configured,
        chain: chain.map((link) => link.id),
        complete: (request) => firstAnswer(request, (client) => client.complete(request)),
        stream: (request) => firstAnswer(request, (client) => client.stream(request)),
        countTokens: countTokens === undefined
          ? undefined
          : (body) => primary.attempt((client) => client.countTokens!(body)),
        responses: responses === undefined
          ? undefined
          : (source, stream) => retried(primary, (client) => client.responses!(source, stream)),
        embed: (body) =>
          embed === undefined
            ? Effect.fail(
              new ProviderError({
                provider: primary.id,
                reason: "BadRequest",
                upstreamStatus: 400,
                message: `${primary.id} has no embeddings API; /v1/embeddings needs an OpenAI-compatible provider`
              })
            )
            : retried(primary, (client) => client.embed!(body)),
        status: Effect.forEach(links, (link) => link.status)
      })
    })
  )
}
