import { Context, Deferred, Effect, Exit, Layer, Schema } from "effect"
import type { ProviderError } from "../domain/errors.ts"

/** The leader of a coalesced call went away (its client disconnected) before an answer: followers go on their own. */
export class LeaderAbandoned extends Schema.TaggedError<LeaderAbandoned>()("LeaderAbandoned", {}) {}

/** What followers share: the serialised completion and the provider that answered. */
export interface SharedAnswer {
  readonly completion: string
  readonly provider: string
}

/** What `/health` shows of coalescing now: calls in flight for identical requests, and the callers waiting on them. */
export interface CoalescingStatus {
  readonly in_flight: number
  readonly followers: number
}

/** Settles the shared outcome; only the first call counts. */
export type Settle = (exit: Exit.Exit<SharedAnswer, ProviderError | LeaderAbandoned>) => void

type Outcome = Deferred.Deferred<SharedAnswer, ProviderError | LeaderAbandoned>

/**
 * The settle of one lead. Made here, not where `share` has its lead and followers in scope: a stream's end holds
 * it, and through that scope it would hold the lead's request (its body) for the stream's whole life.
 */
const settlerOf = (pending: Map<string, Outcome>, key: string, outcome: Outcome): Settle => (exit) => {
  if (pending.get(key) === outcome) pending.delete(key)
  Deferred.doneUnsafe(outcome, exit)
}

/**
 * Request coalescing: concurrent identical misses make one upstream call. The first caller for a key leads; every
 * caller that arrives before the lead settles follows and gets its answer.
 */
export class Coalescer extends Context.Service<Coalescer, {
  /**
   * Runs `lead` for the first caller of `key`; `lead` calls `settle` once its answer is final (for a stream, when
   * it ends). Callers arriving meanwhile get that answer through `follow`. A lead that fails before settling shares
   * its failure; one interrupted (its client gone) leaves its followers to lead in turn.
   */
  readonly share: <A>(
    key: string,
    lead: (settle: Settle) => Effect.Effect<A, ProviderError>,
    follow: (shared: SharedAnswer) => A
  ) => Effect.Effect<A, ProviderError>
  readonly status: Effect.Effect<CoalescingStatus>
}>()("isartor/Coalescer") {
  static readonly make = () => {
    const pending = new Map<string, Outcome>()
    let followers = 0
    const share = <A>(
      key: string,
      lead: (settle: Settle) => Effect.Effect<A, ProviderError>,
      follow: (shared: SharedAnswer) => A
    ): Effect.Effect<A, ProviderError> =>
      Effect.suspend(() => {
        const existing = pending.get(key)
        if (existing) {
          followers++
          return Deferred.await(existing).pipe(
            Effect.ensuring(Effect.sync(() => void followers--)),
            Effect.map(follow),
            Effect.catchTag("LeaderAbandoned", () => share(key, lead, follow))
          )
        }
        const outcome = Deferred.makeUnsafe<SharedAnswer, ProviderError | LeaderAbandoned>()
        pending.set(key, outcome)
        const settle = settlerOf(pending, key, outcome)
        return lead(settle).pipe(Effect.onExit((exit) =>
          Effect.sync(() => {
            if (Exit.isFailure(exit)) {
              settle(Exit.hasInterrupts(exit) ? Exit.fail(new LeaderAbandoned()) : Exit.failCause(exit.cause))
            }
          })
        ))
      })
    return Coalescer.of({
      share,
      status: Effect.sync(() => ({ in_flight: pending.size, followers }))
    })
  }

  static readonly layer = Layer.sync(Coalescer, Coalescer.make)
}
