import { Exit, Schema } from "effect"
import { LayerName } from "./Answer.ts"
import { RoutingDecision } from "./routing.ts"

/** The message of anything thrown or rejected: an Error's message, else the value as text. */
export const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** A cache layer had no entry for the request: the pipeline tries the next layer. */
export class CacheMiss extends Schema.TaggedError<CacheMiss>()("CacheMiss", {
  layer: Schema.Literals(["l1a", "l1b"])
}) {}

/** A layer could not be used (backend down, disabled, skipped by the request): the pipeline tries the next layer. */
export class LayerUnavailable extends Schema.TaggedError<LayerUnavailable>()("LayerUnavailable", {
  layer: LayerName,
  reason: Schema.String
}) {}

/** L2 looked at the request and left it to the next layer: classified COMPLEX, or its local answer failed. */
export class RouterDeclined extends Schema.TaggedError<RouterDeclined>()("RouterDeclined", {
  /** What L2 decided, carried to the answer L3 gives. */
  decision: RoutingDecision,
  reason: Schema.String
}) {}

/** The client sent something we cannot serve. Never falls through: it is the client's answer. */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  message: Schema.String,
  status: Schema.Literals([400, 404, 413, 415, 422]),
  param: Schema.optional(Schema.String)
}) {}

/** `Cache-Control: only-if-cached` and the caches had no answer: a 504, and nothing was sent upstream. */
export class NotCached extends Schema.TaggedError<NotCached>()("NotCached", {}) {}

export const ProviderErrorReason = Schema.Literals([
  "RateLimited",
  "Unauthorized",
  "BadRequest",
  "NotFound",
  "Upstream",
  "Unreachable",
  "Timeout",
  "NotConfigured",
  /** The upstream answered what the gateway does not take: a redirect, a compressed or oversized body. */
  "Refused",
  /** The provider failed most of its recent calls: its circuit breaker keeps calls away until a probe succeeds. */
  "CircuitOpen",
  /** A `[budgets]` limit is spent for its window: no call is made until it resets. */
  "BudgetExceeded"
])
export type ProviderErrorReason = typeof ProviderErrorReason.Type

/** The L3 provider failed. `reason` decides the status the client sees and whether a retry makes sense. */
export class ProviderError extends Schema.TaggedError<ProviderError>()("ProviderError", {
  provider: Schema.String,
  reason: ProviderErrorReason,
  message: Schema.String,
  upstreamStatus: Schema.optional(Schema.Number),
  retryAfterMs: Schema.optional(Schema.Number),
  /**
   * The gateway already tried again (retries, another key or provider), or knows another call now would fail (every
   * key rate-limited, the breaker open): neither it nor the client should multiply the calls.
   */
  retried: Schema.optional(Schema.Boolean)
}) {
  /** The same failure, marked as one the gateway already retried. */
  asRetried(): ProviderError {
    return new ProviderError({
      provider: this.provider,
      reason: this.reason,
      message: this.message,
      retried: true,
      ...(this.upstreamStatus === undefined ? {} : { upstreamStatus: this.upstreamStatus }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs })
    })
  }

  get isRetryable(): boolean {
    return this.reason === "RateLimited" || this.reason === "Upstream" || this.reason === "Unreachable" ||
      this.reason === "Timeout"
  }
}

/** The configuration cannot be used: start-up stops with this message. */
export class ConfigInvalid extends Schema.TaggedError<ConfigInvalid>()("ConfigInvalid", {
  message: Schema.String
}) {}

/** Start-up could not finish: the message says which setting, file or package to fix. */
export class StartFailed extends Schema.TaggedError<StartFailed>()("StartFailed", {
  message: Schema.String
}) {}

/** A request the gateway refuses with 400, as the request decoders return it: `message` names `param` when it can. */
export const badRequest = (message: string, param?: string) =>
  Exit.fail(new BadRequest({ status: 400, message, ...(param !== undefined ? { param } : {}) }))
