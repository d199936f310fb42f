import { Effect } from "effect"
import type { Admission, BudgetHold, Budgets } from "../../budgets/Budgets.ts"
import type { Caller, Spend } from "../../budgets/spend.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { ProviderError } from "../../domain/errors.ts"
import type { ProviderLink } from "../health/ProviderLink.ts"
import type { ProviderClient } from "../shared/ProviderDefinition.ts"
import { type RetryPolicy, withRetries } from "../shared/retry.ts"

/** Who asks outside the chat chain (Responses pass-through, embeddings), and the provider its model's alias named. */
export interface DirectRoute extends Caller {
  readonly provider?: string | undefined
}

/** An upstream answer and the provider that gave it. */
export interface Answered<A> {
  readonly value: A
  readonly provider: string
  /** What the request charged to its budgets: corrected to the answer's real usage once it is known. */
  readonly hold?: BudgetHold | undefined
}

type Skipped = Extract<Admission, { _tag: "Skip" }>

/** What is asked of one provider's client. */
export type Call<A> = (client: ProviderClient) => Effect.Effect<A, ProviderError>

/** What every call to a provider goes through: the gateway's budgets and its retry policy. */
export interface CallLimits {
  readonly budgets: Budgets["Service"]
  readonly policy: RetryPolicy
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

/** One provider's answer, with its retries within its budget. */
const retried = <A>(policy: RetryPolicy, link: ProviderLink, call: Call<A>, ownModel: boolean) =>
  withRetries(link.attempt(call, ownModel), policy, link.budget).pipe(
    Effect.map((value): Answered<A> => ({ value, provider: link.id }))
  )

/** One provider's answer within the request's budgets: charged before the call, given back if it fails. */
const budgeted = <A>(
  { budgets, policy }: CallLimits,
  link: ProviderLink,
  spend: Spend,
  checkCaller: boolean,
  call: Call<A>,
  ownModel: boolean
): Effect.Effect<Answered<A> | Skipped, ProviderError> => {
  if (!budgets.active) return retried(policy, link, call, ownModel)
  return budgets.admit(spend, link.id, checkCaller).pipe(
    Effect.flatMap((admission): Effect.Effect<Answered<A> | Skipped, ProviderError> =>
      admission._tag === "Skip"
        ? Effect.succeed(admission)
        : retried(policy, link, call, ownModel).pipe(
          Effect.map((answered): Answered<A> => ({ ...answered, hold: admission.hold })),
          Effect.tapError(() => budgets.settle(admission.hold, undefined))
        )
    )
  )
}

const isSkipped = <A>(result: Answered<A> | Skipped): result is Skipped => "_tag" in result

/** The first answer along a chat request's chain of providers, each with its retries. */
export const firstAnswer = <A>(
  limits: CallLimits,
  route: ReadonlyArray<ProviderLink>,
  request: ChatRequest,
  spend: Spend,
  call: Call<A>
) => {
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
    return budgeted(limits, link, spend, position === 0, call, ownModel).pipe(Effect.matchEffect({
      onFailure: (error) => movesOn(error) ? tryFrom(position + 1, [...errors, error]) : Effect.fail(error),
      onSuccess: (result) =>
        isSkipped(result) ? tryFrom(position + 1, [...errors, result.error]) : Effect.succeed(result)
    }))
  }
  return tryFrom(0, [])
}

/** Which API a direct request needs: whether a client speaks it, and what to tell a client whose provider does not. */
export interface DirectApi {
  readonly speaks: (client: ProviderClient) => boolean
  readonly missing: string
}

/**
 * Responses and embeddings: one provider, no fallback, within the same budgets, breaker and key pool; a provider
 * without the API is the client's 400.
 */
export const directAnswer = <A>(
  limits: CallLimits,
  link: ProviderLink,
  ownModel: boolean,
  spend: Spend,
  api: DirectApi,
  call: Call<A>
) => {
  if (!api.speaks(link.client)) {
    return Effect.fail(
      new ProviderError({
        provider: link.id,
        reason: "BadRequest",
        upstreamStatus: 400,
        message: `${link.id} ${api.missing}`
      })
    )
  }
  return budgeted(limits, link, spend, true, call, ownModel).pipe(
    Effect.flatMap((result) => isSkipped(result) ? Effect.fail(result.error) : Effect.succeed(result))
  )
}
