import { Cause, type Clock, Effect, Exit, Metric, Option, Redacted } from "effect"
import type { PoolKeySpec } from "../../config/poolLeaves.ts"
import { ProviderError } from "../../domain/errors.ts"
import { providerBreakerState, providerKeyCooldowns } from "../../observability/Metrics.ts"
import { type KeyPool, type KeyStrategy, type KeyView, makeKeyPool } from "../keys/KeyPool.ts"
import type { ProviderId } from "../registry.ts"
import type { ProviderClient, ProviderDefinition, ProviderSettings } from "../shared/ProviderDefinition.ts"
import type { RetryAllowance } from "../shared/retry.ts"
import { type BreakerState, type BreakerView, type CircuitBreaker, makeCircuitBreaker } from "./CircuitBreaker.ts"
import { makeRetryBudget, type RetryBudgetView } from "./RetryBudget.ts"

/** What `/admin/providers` and `/health` show of a provider: its breaker, its retry budget and its keys. */
export interface ProviderStatus {
  readonly provider: string
  /** Its place: the primary, a fallback, or a provider only aliases name. */
  readonly role: "primary" | "fallback" | "alias"
  readonly strategy: KeyStrategy
  readonly breaker: BreakerView
  readonly retry_budget: RetryBudgetView
  readonly keys: ReadonlyArray<KeyView>
  /** The last failure an upstream answered with (or the call met): its message is scrubbed of the key. */
  readonly last_error?: ProviderFailure
}

export interface ProviderFailure {
  /** ISO time. */
  readonly at: string
  readonly reason: ProviderError["reason"]
  readonly status?: number
  readonly message: string
}

export interface LinkOptions {
  readonly id: ProviderId
  readonly role: ProviderStatus["role"]
  readonly definition: ProviderDefinition
  /** Every setting but the key, which the pool supplies call by call. */
  readonly settings: Omit<ProviderSettings, "apiKey">
  readonly keys: ReadonlyArray<PoolKeySpec>
  readonly strategy: KeyStrategy
  readonly cooldownMs: number
  readonly breakerCooloffMs: number
  readonly retryBudgetRatio: number
  readonly retryBudgetMinRetries: number
  readonly clock: Clock.Clock
}

/**
 * A provider as the chain calls it: one client per key, a circuit breaker over its recent calls and a budget for
 * the gateway's retries. `attempt` is one attempt of a request: a rate-limited or refused key hands the request to
 * the next usable key at once (a key switch, not a retry).
 */
export interface ProviderLink {
  readonly id: ProviderId
  readonly role: ProviderStatus["role"]
  readonly configured: boolean
  /** The first key's client, for what the provider can do (Responses, embeddings, token counts). */
  readonly client: ProviderClient
  /** `ownModel`: ask for the provider's configured model; false when an alias named the model. */
  readonly attempt: <A>(
    call: (client: ProviderClient) => Effect.Effect<A, ProviderError>,
    ownModel?: boolean
  ) => Effect.Effect<A, ProviderError>
  /** The budget `withRetries` spends, bound to the provider's clock. */
  readonly budget: RetryAllowance
  readonly breaker: CircuitBreaker
  readonly keys: KeyPool
  /** The background health check: the models listing with the first usable key, its answer told to the breaker. */
  readonly check: Effect.Effect<void>
  /** Its state now; the breaker's gauge is brought up to date on the way (an open breaker half-opens with time). */
  readonly status: Effect.Effect<ProviderStatus>
}

/** Failures that say the provider is unwell; any other answer (a 4xx) shows it alive. */
const unhealthy = (error: ProviderError) =>
  error.reason === "Upstream" || error.reason === "Unreachable" || error.reason === "Timeout" ||
  error.reason === "Refused"

const stateValue: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 }

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

const circuitOpen = (id: ProviderId, retryAfterMs: number) =>
  new ProviderError({
    provider: id,
    reason: "CircuitOpen",
    message: `${id} failed most of its recent calls; the gateway calls it again in ${seconds(retryAfterMs)} s`,
    retryAfterMs,
    retried: true
  })

const allCooling = (id: ProviderId, retryAfterMs: number) =>
  new ProviderError({
    provider: id,
    reason: "RateLimited",
    message: `every key of ${id} is rate-limited; the first is usable again in ${seconds(retryAfterMs)} s`,
    retryAfterMs,
    retried: true
  })

/** The last failure a provider met, as `/admin/providers` shows it. */
const makeFailureMemory = (now: () => number) => {
  let last: ProviderFailure | undefined
  return {
    remember: (error: ProviderError) => {
      last = {
        at: new Date(now()).toISOString(),
        reason: error.reason,
        ...(error.upstreamStatus === undefined ? {} : { status: error.upstreamStatus }),
        message: error.message
      }
    },
    last: () => last
  }
}

interface KeyCalls {
  readonly id: ProviderId
  readonly pool: KeyPool
  readonly now: () => number
  readonly remember: (error: ProviderError) => void
  readonly cooldowns: typeof providerKeyCooldowns
}

/** Calls with the next usable key; a 429 or a refused key passes the request on to the next one. */
const keyedCall = ({ cooldowns, id, now, pool, remember }: KeyCalls) => {
  const withKeys = <A>(
    call: (client: ProviderClient) => Effect.Effect<A, ProviderError>,
    clients: ReadonlyArray<ProviderClient>,
    tried: Set<number>,
    lastError: ProviderError | undefined
  ): Effect.Effect<A, ProviderError> => {
    const picked = pool.pick(now(), tried)
    if (picked._tag === "Cooling") return Effect.fail(allCooling(id, picked.retryAfterMs))
    if (picked._tag === "Invalid") {
      return Effect.fail(
        lastError ??
          new ProviderError({ provider: id, reason: "Unauthorized", message: `every key of ${id} was refused` })
      )
    }
    const index = picked.index
    tried.add(index)
    return Effect.catchTag(call(clients[index]!), "ProviderError", (error) => {
      remember(error)
      if (error.reason === "RateLimited") {
        pool.rateLimited(index, now(), error.retryAfterMs)
        const cooled = pool.size > 1 ? Metric.update(cooldowns, 1) : Effect.void
        return pool.size > 1 ? Effect.andThen(cooled, withKeys(call, clients, tried, error)) : Effect.fail(error)
      }
      if (error.reason === "Unauthorized") {
        pool.refused(index)
        return pool.size > 1 ? withKeys(call, clients, tried, error) : Effect.fail(error)
      }
      pool.failed(index)
      return Effect.fail(error)
    })
  }
  return withKeys
}

/** The breaker hears how an admitted attempt ended; an attempt that never reached the upstream tells it nothing. */
const breakerVerdict =
  (breaker: CircuitBreaker, now: () => number, showState: Effect.Effect<void>) =>
  (probe: boolean) =>
  <A>(exit: Exit.Exit<A, ProviderError>) =>
    Effect.andThen(
      Effect.sync(() => {
        if (Exit.isSuccess(exit)) return breaker.record(now(), true, probe)
        const error = Cause.findErrorOption(exit.cause)
        if (Option.isNone(error) || error.value.reason === "NotConfigured" || error.value.retried === true) {
          return breaker.release(probe)
        }
        breaker.record(now(), !unhealthy(error.value), probe)
      }),
      showState
    )

/** The background health check: the models listing with the first usable key, its answer told to the breaker. */
const healthCheck = (
  pool: KeyPool,
  clients: ReadonlyArray<ProviderClient>,
  breaker: CircuitBreaker,
  now: () => number,
  showState: Effect.Effect<void>
) =>
  Effect.suspend(() => {
    const picked = pool.pick(now(), new Set(), false)
    const listModels = picked._tag === "Key" ? clients[picked.index]!.listModels : undefined
    if (listModels === undefined) return Effect.void
    return Effect.exit(listModels()).pipe(
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
          breaker.checked(now(), Option.isNone(error) || !unhealthy(error.value))
        })
      ),
      Effect.andThen(showState)
    )
  })

export const makeProviderLink = (options: LinkOptions): ProviderLink => {
  const { id, clock } = options
  const now = () => clock.currentTimeMillisUnsafe()
  // No key at all is one empty key: the provider's own client then says what to set (or needs none).
  const specs = options.keys.length > 0
    ? options.keys
    : [{ key: Redacted.make(""), label: undefined, priority: undefined }]
  const pool = makeKeyPool(specs, options.strategy, options.cooldownMs)
  const breaker = makeCircuitBreaker(options.breakerCooloffMs)
  const budget = makeRetryBudget(options.retryBudgetRatio, options.retryBudgetMinRetries)
  const make = (model: string | undefined) =>
    pool.keys.map((apiKey) => options.definition.make({ ...options.settings, apiKey, model }))
  const ownClients = make(options.settings.model)
  const requestModelClients = options.settings.model === undefined ? ownClients : make(undefined)

  const breakerGauge = providerBreakerState.pipe(Metric.withAttributes({ provider: id }))
  const cooldowns = providerKeyCooldowns.pipe(Metric.withAttributes({ provider: id }))
  const showState = Effect.suspend(() => Metric.update(breakerGauge, stateValue[breaker.state(now())]))
  const failures = makeFailureMemory(now)
  const withKeys = keyedCall({ id, pool, now, remember: failures.remember, cooldowns })
  const verdict = breakerVerdict(breaker, now, showState)

  const attempt = <A>(call: (client: ProviderClient) => Effect.Effect<A, ProviderError>, ownModel = true) =>
    Effect.suspend(() => {
      const admission = breaker.admit(now())
      if (admission._tag === "Rejected") return Effect.fail(circuitOpen(id, admission.retryAfterMs))
      const clients = ownModel ? ownClients : requestModelClients
      return withKeys(call, clients, new Set(), undefined).pipe(Effect.onExit(verdict(admission.probe)))
    })

  return {
    id,
    role: options.role,
    configured: ownClients.some((client) => client.configured),
    client: ownClients[0]!,
    attempt,
    budget: { request: () => budget.request(now()), tryRetry: () => budget.tryRetry(now()) },
    breaker,
    keys: pool,
    check: healthCheck(pool, ownClients, breaker, now, showState),
    status: Effect.andThen(
      showState,
      Effect.sync((): ProviderStatus => {
        const lastError = failures.last()
        return {
          provider: id,
          role: options.role,
          strategy: options.strategy,
          breaker: breaker.view(now()),
          retry_budget: budget.view(now()),
          keys: pool.view(now()),
          ...(lastError === undefined ? {} : { last_error: lastError })
        }
      })
    )
  }
}
