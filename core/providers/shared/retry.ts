import { Duration, Effect, Metric } from "effect"
import type { ProviderError } from "../../domain/errors.ts"
import { l3Errors, l3Retries } from "../../observability/Metrics.ts"

export interface RetryPolicy {
  /** Retries after the first attempt: 2 means at most three calls. */
  readonly maxRetries: number
  /** The first delay; each retry doubles it, with full jitter. */
  readonly baseDelayMs: number
  /** A Retry-After longer than this is not waited for: the caller moves on (to a fallback). */
  readonly maxDelayMs: number
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
 * Retries an upstream call on 429, 5xx, connection errors and timeouts, with exponential backoff and jitter,
 * honouring Retry-After. 400/401/403/404 are answers, never retried.
 */
export const withRetries = <A>(
  attempt: Effect.Effect<A, ProviderError>,
  policy: RetryPolicy
): Effect.Effect<A, ProviderError> => {
  const tryFrom = (retry: number): Effect.Effect<A, ProviderError> =>
    attempt.pipe(
      Effect.withSpan("l3.attempt", { attributes: { "isartor.l3.attempt": retry + 1 } }, { captureStackTrace: false }),
      Effect.catchTag("ProviderError", (error) => {
        const final = retry > 0 ? error.asRetried() : error
        const failed = recordFailure(error, retry)
        if (!error.isRetryable || retry >= policy.maxRetries) return Effect.andThen(failed, Effect.fail(final))
        const delay = retryDelayMs(error, retry, policy)
        if (delay > policy.maxDelayMs) return Effect.andThen(failed, Effect.fail(final))
        return failed.pipe(
          Effect.andThen(Metric.update(
            l3Retries.pipe(Metric.withAttributes(
              { provider: error.provider, reason: error.reason }
            )),
            1
          )),
          Effect.andThen(Effect.sleep(Duration.millis(delay))),
          Effect.andThen(tryFrom(retry + 1))
        )
      })
    )
  return tryFrom(0)
}
