import { Duration, Effect } from "effect"
import type { ProviderError } from "../../domain/errors.ts"

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

/**
 * Retries an upstream call on 429, 5xx, connection errors and timeouts, with exponential backoff and jitter,
 * honouring Retry-After. 400/401/403/404 are answers, never retried.
 */
export const withRetries = <A>(
  attempt: Effect.Effect<A, ProviderError>,
  policy: RetryPolicy
): Effect.Effect<A, ProviderError> => {
  const tryFrom = (retry: number): Effect.Effect<A, ProviderError> =>
    attempt.pipe(Effect.catchTag("ProviderError", (error) => {
      const final = retry > 0 ? error.asRetried() : error
      if (!error.isRetryable || retry >= policy.maxRetries) return Effect.fail(final)
      const delay = retryDelayMs(error, retry, policy)
      if (delay > policy.maxDelayMs) return Effect.fail(final)
      return Effect.sleep(Duration.millis(delay)).pipe(Effect.andThen(tryFrom(retry + 1)))
    }))
  return tryFrom(0)
}
