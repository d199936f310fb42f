import { Effect, Schedule } from "effect"
import type { LayerUnavailable } from "../../domain/errors.ts"
import type { Embedder } from "../../embedding/Embedder.ts"
import type { ErrorBudget } from "./decision/ErrorBudget.ts"
import type { Candidate, LabelledIndex, SemanticEntry } from "./LabelledIndex.ts"
import { SharedSemanticStore } from "./RedisSemanticStore.ts"

/**
 * The fast encoder becomes ready some seconds after start-up: entries cached before then join its index in the
 * background, once, a few hundred at a time, so no request waits on the catch-up. The work belongs to the cache's
 * scope: it stops when the gateway does.
 */
export const fastCatchUp = (index: LabelledIndex, embedder: Embedder["Service"], hasFastStage: boolean) =>
  Effect.map(Effect.scope, (scope) => {
    let started = false
    return Effect.suspend(() => {
      if (started || !hasFastStage || embedder.fast("") === undefined) return Effect.void
      started = true
      const pending = index.snapshot()
      const addAll = Effect.gen(function*() {
        for (let i = 0; i < pending.length; i += 200) {
          for (const [label, entry] of pending.slice(i, i + 200)) {
            index.addFastIfPresent(label, entry, embedder.fast(entry.text))
          }
          yield* Effect.yieldNow
        }
      })
      return Effect.asVoid(Effect.forkIn(addAll, scope))
    })
  })

/** How often a replica sends its budget observations and reads every replica's. */
export const BUDGET_SYNC_MS = 1000

/**
 * The error budget's observations shared through Redis: sent and read once at start and then every
 * `BUDGET_SYNC_MS` for the cache's lifetime. A failed round keeps what it could not send for the next one.
 */
const shareBudget = (shared: SharedSemanticStore["Service"], budget: ErrorBudget, decision: string) => {
  const round = Effect.suspend(() => {
    const delta = budget.takeUnsent()
    return shared.syncBudget(decision, delta).pipe(
      Effect.tap((totals) => Effect.sync(() => budget.adopt(totals))),
      Effect.catchTag("LayerUnavailable", (error) =>
        Effect.andThen(
          Effect.sync(() => budget.putBack(delta)),
          Effect.logDebug(`l1b: budget observations not shared this round (${error.reason})`)
        ))
    )
  })
  return Effect.andThen(
    round,
    Effect.forkScoped(Effect.repeat(Effect.andThen(Effect.sleep(BUDGET_SYNC_MS), round), Schedule.forever))
  )
}

export interface Shared {
  readonly index: LabelledIndex
  readonly encoder: string
  readonly setAside: { count: number }
  readonly now: () => number
  readonly budget: ErrorBudget
  readonly decision: string
}

/**
 * With cache_backend = redis, the entries every replica shares: this replica's index loads them at start and
 * follows the announced ones for the cache's lifetime (closing the gateway unsubscribes); a local entry is served
 * only while its key lives in Redis (TTL, FLUSHDB), and a stored one is shared. Without Redis, nothing to follow.
 */
export const followShared = ({ index, encoder, setAside, now, budget, decision }: Shared) =>
  Effect.gen(function*() {
    const option = yield* Effect.serviceOption(SharedSemanticStore)
    if (option._tag === "None") {
      return {
        stillHeld: (_: Candidate): Effect.Effect<boolean, LayerUnavailable> => Effect.succeed(true),
        put: (_entry: SemanticEntry, _vector: Float32Array, _ttlMs?: number): Effect.Effect<void, LayerUnavailable> =>
          Effect.void,
        remove: (_id: string): Effect.Effect<boolean, LayerUnavailable> => Effect.succeed(false)
      }
    }
    const shared = option.value
    const fromShared = (id: string, entry: Omit<SemanticEntry, "id"> & { readonly vector: Float32Array }) => {
      // Another encoder's vector (a replica on another release or setting, an entry from before encoders were
      // recorded) means nothing next to this one's, even at the same length: never compared.
      if (entry.encoder !== encoder) {
        setAside.count++
        return
      }
      const remaining = entry.meta ? entry.meta.expires - now() : undefined
      if (remaining !== undefined && remaining <= 0) return
      const { vector, ...fields } = entry
      void index.insert({ id, ...fields }, vector, undefined, remaining)
    }
    for (const [id, entry] of yield* Effect.promise(() => shared.loadAll().catch(() => []))) fromShared(id, entry)
    if (setAside.count > 0) {
      yield* Effect.logWarning(
        `l1b: encoder ${encoder}: ${setAside.count} shared entries stored with another encoder were set aside (never compared; they expire with their TTL)`
      )
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => shared.onAdded(fromShared)),
      (unsubscribe) => Effect.sync(unsubscribe)
    )
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        shared.onRemoved((id) => {
          index.removeById(id)
          budget.forget(id, false)
        })
      ),
      (unsubscribe) => Effect.sync(unsubscribe)
    )
    yield* shareBudget(shared, budget, decision)
    return {
      stillHeld: (candidate: Candidate): Effect.Effect<boolean, LayerUnavailable> =>
        shared.exists(candidate.entry.id).pipe(
          Effect.tap((exists) => Effect.sync(() => exists || index.remove(candidate.label)))
        ),
      put: (entry: SemanticEntry, vector: Float32Array, ttlMs?: number) =>
        shared.put(entry.id, { ...entry, vector }, ttlMs),
      remove: (id: string) => shared.remove(id)
    }
  })
