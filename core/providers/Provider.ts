import { Clock, Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { type Admission, type BudgetHold, Budgets } from "../budgets/Budgets.ts"
import { type Caller, type Spend, spendOfChat, spendOfEmbeddings, spendOfResponses } from "../budgets/spend.ts"
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

/** Who asks outside the chat chain (Responses pass-through, embeddings), and the provider its model's alias named. */
export interface DirectRoute extends Caller {
  readonly provider?: string | undefined
}

type Skipped = Extract<Admission, { _tag: "Skip" }>

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
  /** Whether the provider a Responses request goes to (its alias's, else the primary) speaks the Responses API. */
  readonly speaksResponses: (provider: string | undefined) => boolean
  /**
   * The Responses API passed through to the provider its model's alias named, else the primary — within its budgets,
   * behind its breaker and key pool, with retries but no fallback (the client's body means what it says only to a
   * provider that speaks it). A provider that does not speak it is a 400: `/v1/responses` is translated instead.
   */
  readonly responses: (
    source: ResponsesSource,
    stream: boolean,
    route: DirectRoute
  ) => Effect.Effect<Answered<Record<string, unknown> | ReadableStream<Uint8Array>>, ProviderError>
  /**
   * OpenAI embeddings from the provider its model's alias named, else the primary, as `responses` goes: no fallback,
   * since another provider's vectors come from another model and would not compare with the ones the client holds.
   */
  readonly embed: (
    body: Readonly<Record<string, unknown>>,
    route: DirectRoute
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

      /** One provider's answer within the request's budgets: charged before the call, given back if it fails. */
      const budgeted = <A>(
        link: ProviderLink,
        spend: Spend,
        checkCaller: boolean,
        call: (client: ProviderClient) => Effect.Effect<A, ProviderError>,
        ownModel: boolean
      ): Effect.Effect<Answered<A> | Skipped, ProviderError> => {
        if (!budgets.active) return retried(link, call, ownModel)
        return budgets.admit(spend, link.id, checkCaller).pipe(
          Effect.flatMap((admission): Effect.Effect<Answered<A> | Skipped, ProviderError> =>
            admission._tag === "Skip"
              ? Effect.succeed(admission)
              : retried(link, call, ownModel).pipe(
                Effect.map((answered): Answered<A> => ({ ...answered, hold: admission.hold })),
                Effect.tapError(() => budgets.settle(admission.hold, undefined))
              )
          )
        )
      }
      const isSkipped = <A>(result: Answered<A> | Skipped): result is Skipped => "_tag" in result

      const firstAnswer = <A>(
        request: ChatRequest,
        call: (client: ProviderClient) => Effect.Effect<A, ProviderError>
      ) => {
        const route = chainFor(request)
        const spend = spendOfChat(request)
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
          // A caller's `fallback` budget is checked at the first provider only: the next ones are where it falls back to.
          return budgeted(link, spend, position === 0, call, ownModel).pipe(Effect.matchEffect({
            onFailure: (error) => movesOn(error) ? tryFrom(position + 1, [...errors, error]) : Effect.fail(error),
            onSuccess: (result) =>
              isSkipped(result) ? tryFrom(position + 1, [...errors, result.error]) : Effect.succeed(result)
          }))
        }
        return tryFrom(0, [])
      }

      /** The link a Responses or embeddings request goes to: its alias's provider, else the primary. */
      const directLink = (provider: string | undefined) =>
        (provider === undefined ? undefined : links.find((link) => link.id === provider)) ?? primary
      /**
       * Responses and embeddings: one provider, no fallback, within the same budgets, breaker and key pool; a provider
       * without the API (`speaks` false) is the client's 400.
       */
      const direct = <A>(
        route: DirectRoute,
        spend: Spend,
        speaks: (client: ProviderClient) => boolean,
        missing: string,
        call: (client: ProviderClient) => Effect.Effect<A, ProviderError>
      ) => {
        const link = directLink(route.provider)
        if (!speaks(link.client)) {
          return Effect.fail(
            new ProviderError({
              provider: link.id,
              reason: "BadRequest",
              upstreamStatus: 400,
              message: `${link.id} ${missing}`
            })
          )
        }
        return budgeted(link, spend, true, call, link === primary).pipe(
          Effect.flatMap((result) => isSkipped(result) ? Effect.fail(result.error) : Effect.succeed(result))
        )
      }

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
        speaksResponses: (provider) => directLink(provider).client.responses !== undefined,
        responses: (source, stream, route) =>
          direct(
            route,
            spendOfResponses(source.body, route),
            (client) => client.responses !== undefined,
            "does not speak the Responses API",
            (client) => client.responses!(source, stream)
          ),
        embed: (body, route) =>
          direct(
            route,
            spendOfEmbeddings(body, route),
            (client) => client.embed !== undefined,
            "has no embeddings API; /v1/embeddings needs an OpenAI-compatible provider",
            (client) => client.embed!(body)
          ),
        status: Effect.forEach(links, (link) => link.status)
      })
    })
  )
}
