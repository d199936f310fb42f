import { Context, Deferred, Effect, Exit, Layer, Schema } from "effect"
import type { ProviderError } from "./errors.ts"

/** The leader of a coalesced call went away (its client disconnected) before an answer: followers go on their own. */
export class LeaderAbandoned extends Schema.TaggedError<LeaderAbandoned>()("LeaderAbandoned", {}) {}

/** What followers share: the serialised completion and the provider that answered. */
export interface SharedAnswer {
  readonly completion: string
  readonly provider: string
}

export type SharedOutcome = Deferred.Deferred<SharedAnswer, ProviderError | LeaderAbandoned>

/** The leader's handle: it settles the shared outcome exactly once, then leaves the table. */
export interface Lead {
  readonly settle: (exit: Exit.Exit<SharedAnswer, ProviderError | LeaderAbandoned>) => void
}

/**
 * Request coalescing: concurrent identical misses make one upstream call. The first caller for a key leads and
 * settles the outcome (the serialised completion); every caller that arrives meanwhile follows and awaits it.
 */
export class Coalescer extends Context.Service<Coalescer, {
  readonly enter: (key: string) => { readonly _tag: "Lead"; readonly lead: Lead } | { readonly _tag: "Follow"; readonly outcome: SharedOutcome }
}>()("isartor/Coalescer") {
  static readonly make = () => {
    const pending = new Map<string, SharedOutcome>()
    return Coalescer.of({
      enter: (key) => {
        const existing = pending.get(key)
        if (existing) return { _tag: "Follow", outcome: existing }
        const outcome = Deferred.makeUnsafe<SharedAnswer, ProviderError | LeaderAbandoned>()
        pending.set(key, outcome)
        return {
          _tag: "Lead",
          lead: {
            settle: (exit) => {
              if (pending.get(key) === outcome) pending.delete(key)
              Deferred.doneUnsafe(outcome, exit)
            }
          }
        }
      }
    })
  }

  static readonly layer = Layer.sync(Coalescer, Coalescer.make)

  /** Awaits a leader's outcome. */
  static readonly follow = (outcome: SharedOutcome) => Deferred.await(outcome)
}
