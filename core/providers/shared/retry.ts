import { Duration, Effect, Metric, Schedule } from "effect"
import type { ProviderError } from "../../domain/errors.ts"
import { l3Errors, l3Retries, retriesDenied } from "../../observability/Metrics.ts"

export interface RetryPolicy {
  /** Retries after the first attempt: 2 means at most three calls. */
  readonly maxRetries: number
  /** The first delay; each retry doubles it, with full jitter. */
  readonly baseDelayMs: number
  /** A Retry-After longer than this is not waited for: the caller moves on (to a fallback). */
  readonly maxDelayMs: number
}

/** A provider's budget for the gateway's own retries (see health/RetryBudget.ts). */
export interface RetryAllowance {
  /** A request's first attempt. */
  readonly request: () => void
  /** Whether one more retry fits; one that fits is counted. */
  readonly tryRetry: () => boolean
}

/** The wait before retry number `attempt` (0-based): the upstream's Retry-After when it gave one, else backoff. */
export const retryDelayMs = (
  error: ProviderError,
  attempt: number,
  policy: RetryPolicy,
  random = Math.random
): number => error.retryAfterMs ?? Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt * (0.5 + random() / 2))

/** A failed attempt, counted by provider and upstream status, and shown on the `l3.provider` span. */
const recordFailure = (error: ProviderError, retry: number) =>
  Effect.andThen(
    Metric.update(
      l3Errors.pipe(Metric.withAttributes({
        provider: error.provider,
        status: error.upstreamStatus === undefined ? error.reason : String(error.upstreamStatus)
      })),
      1
    ),
    Effect.annotateCurrentSpan({
      "isartor.l3.attempts": retry + 1,
      "isartor.l3.retry_reason": error.reason,
      ...(error.upstreamStatus === undefined ? {} : { "isartor.l3.upstream_status": error.upstreamStatus })
    })
  )

/**
 * Whether a failure is worth another call: a retryable reason, not one the gateway already retried or knows another
 * call would meet (every key cooling), and no Retry-After longer than the policy waits.
 */
const worthRetrying = (error: ProviderError, policy: RetryPolicy): boolean =>
  error.isRetryable && error.retried !== true &&
  !(error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxDelayMs)

/** The budget's word on a retry the policy would make; a refusal is counted. */
const budgeted = (error: ProviderError, budget: RetryAllowance) =>
  budget.tryRetry()
    ? Effect.succeed(true)
    : Effect.as(Metric.update(retriesDenied.pipe(Metric.withAttributes({ provider: error.provider })), 1), false)

/** At most `maxRetries` retries, each after `retryDelayMs`, each counted in `isartor_l3_retries_total`. */
const retrySchedule = (policy: RetryPolicy, budget: RetryAllowance) =>
  Schedule.recurs(policy.maxRetries).pipe(
    Schedule.setInputType<ProviderError>(),
    Schedule.while(({ input }) => worthRetrying(input, policy) && budgeted(input, budget)),
    Schedule.modifyDelay(({ attempt, input }) =>
      Effect.as(
        Metric.update(l3Retries.pipe(Metric.withAttributes({ provider: input.provider, reason: input.reason })), 1),
        Duration.millis(retryDelayMs(input, attempt - 1, policy))
      )
    )
  )

/**
 * Retries an upstream call on 429, 5xx, connection errors and timeouts, with exponential backoff and jitter,
 * honouring Retry-After, as far as the provider's retry budget allows. 400/401/403/404 are answers, never retried.
 */
export const withRetries = <A>(
  attempt: Effect.Effect<A, ProviderError>,
  policy: RetryPolicy,
  budget: RetryAllowance
): Effect.Effect<A, ProviderError> =>
  Effect.suspend(() => {
    budget.request()
    let tries = 0
    const once = Effect.suspend(() => {
      const retry = tries++
      return attempt.pipe(
        Effect.withSpan("l3.attempt", { attributes: { "isartor.l3.attempt": retry + 1 } }, {
          captureStackTrace: false
        }),
        Effect.tapError((error) => recordFailure(error, retry))
      )
    })
    return once.pipe(
      Effect.retry(retrySchedule(policy, budget)),
      Effect.mapError((error) => (tries > 1 ? error.asRetried() : error))
    )
  })
