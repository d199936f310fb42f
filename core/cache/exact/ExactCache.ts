import { Clock, Context, Effect, Layer } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import { BoundedMemo } from "../../memory/BoundedMemo.ts"
import type { ExactKey } from "../CacheKey.ts"
import type { ExactEntry, ExactMeta, ExactStore } from "./ExactStore.ts"
import { makeMemoryExactStore } from "./MemoryExactStore.ts"

export interface ExactCacheStatus {
  readonly status: "ok" | "unavailable" | "disabled"
  readonly backend: string
  readonly entries?: number
  readonly bytes?: number
  readonly max_bytes?: number
  readonly evictions?: number
  readonly reason?: string
}

/** The gateway's clock as a plain function: what entries are aged and expired by, so that a test can move it. */
export const clockNow = Effect.map(Clock.Clock, (clock) => () => clock.currentTimeMillisUnsafe())

/** Every miss is the same failure, made once: an error captures a stack trace when it is made. */
const missed = Effect.fail(new CacheMiss({ layer: "l1a" }))

/** Hits counted per entry on this replica, forgotten wholesale past this many entries (they are a diagnostic). */
const MAX_COUNTED = 100_000

/** An L1a hit: the answer, and when it was stored (absent for entries older than the metadata). */
export interface ExactHit {
  readonly completion: string
  readonly created?: number | undefined
}

/** L1a: answers a request seen before, byte for byte, from a bounded store with TTL. */
export class ExactCache extends Context.Service<ExactCache, {
  /**
   * The serialised completion stored under the key, verified by its second digest; with `maxAgeMs`, only an
   * entry at most that old (`Cache-Control: max-age`).
   */
  readonly lookupHit: (key: ExactKey, maxAgeMs?: number) => Effect.Effect<ExactHit, CacheMiss | LayerUnavailable>
  /**
   * `lookupHit` answered synchronously when the store is in this process: the hit, or `undefined` when there is none
   * here now (no entry, too old, or a store that cannot answer at once) — then `lookupHit` has the last word.
   */
  readonly lookupNow: (key: ExactKey, maxAgeMs?: number) => ExactHit | undefined
  /** `lookupHit`'s answer alone. */
  readonly lookup: (key: ExactKey) => Effect.Effect<string, CacheMiss | LayerUnavailable>
  /** Stores an answer with what is known of it, for `ttlMs` or the configured TTL. */
  readonly store: (
    key: ExactKey,
    completion: string,
    meta?: ExactMeta,
    ttlMs?: number
  ) => Effect.Effect<void, LayerUnavailable>
  /** The entry under a key, unverified: for the admin API. */
  readonly entry: (key: string) => Effect.Effect<ExactEntry | undefined, LayerUnavailable>
  readonly remove: (key: string) => Effect.Effect<boolean, LayerUnavailable>
  readonly list: Effect.Effect<Array<readonly [string, ExactEntry]>, LayerUnavailable>
  /** Times the entry answered on this replica. */
  readonly hits: (key: string) => number
  readonly status: Effect.Effect<ExactCacheStatus>
}>()("isartor/ExactCache") {
  static readonly make = (store: ExactStore, now: () => number = Date.now) => {
    const hits = new BoundedMemo<string, number>(MAX_COUNTED)
    const counted = (key: string) => {
      hits.set(key, (hits.get(key) ?? 0) + 1)
    }
    /** The entry's answer when it serves this key and caller, counted as a hit; else `undefined`. */
    const served = (
      key: ExactKey,
      entry: ExactEntry | undefined,
      maxAgeMs: number | undefined
    ): ExactHit | undefined => {
      // A matching first digest with a different second one is a 64-bit collision: never serve it.
      if (entry === undefined || entry.check !== key.check) return undefined
      const created = entry.meta?.created
      // Too old for this caller (or of unknown age): a miss for it, the entry stays for others.
      if (maxAgeMs !== undefined && (created === undefined || now() - created > maxAgeMs)) return undefined
      counted(key.key)
      return { completion: entry.completion, created }
    }
    const lookupHit = (key: ExactKey, maxAgeMs?: number) =>
      Effect.flatMap(store.get(key.key), (entry) => {
        const hit = served(key, entry, maxAgeMs)
        return hit === undefined ? missed : Effect.succeed(hit)
      })
    const getNow = store.getNow
    return ExactCache.of({
      lookupHit,
      lookupNow: getNow === undefined
        ? () => undefined
        : (key, maxAgeMs) => served(key, getNow(key.key), maxAgeMs),
      lookup: (key) => Effect.map(lookupHit(key), (hit) => hit.completion),
      store: (key, completion, meta, ttlMs) => store.set(key.key, { check: key.check, completion, meta }, ttlMs),
      entry: (key) => store.get(key),
      remove: (key) => Effect.tap(store.remove(key), () => Effect.sync(() => hits.delete(key))),
      list: store.list,
      hits: (key) => hits.get(key) ?? 0,
      status: store.size.pipe(
        Effect.map((entries): ExactCacheStatus => {
          const bytes = store.bytes?.()
          return {
            status: "ok",
            backend: store.backend,
            entries,
            ...(bytes ? { bytes: bytes.used, max_bytes: bytes.max } : {}),
            ...(store.evictions ? { evictions: store.evictions() } : {})
          }
        }),
        Effect.catchTag(
          "LayerUnavailable",
          (error) =>
            Effect.succeed<ExactCacheStatus>({ status: "unavailable", backend: store.backend, reason: error.reason })
        )
      )
    })
  }

  static readonly layerMemory = Layer.effect(
    ExactCache,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const now = yield* clockNow
      return ExactCache.make(
        makeMemoryExactStore({
          maxEntries: config.cache_max_capacity,
          maxBytes: config.cache_max_bytes,
          ttlMs: config.cache_ttl_secs * 1000,
          now
        }),
        now
      )
    })
  )

  /** L1a on a store built elsewhere (Redis), ageing its entries by the gateway's clock. */
  static readonly layerStore = (store: ExactStore) =>
    Layer.effect(ExactCache, Effect.map(clockNow, (now) => ExactCache.make(store, now)))

  /** L1a turned off (`cache_mode = semantic`): every lookup falls through, writes are dropped. */
  static readonly layerDisabled = Layer.succeed(
    ExactCache,
    ExactCache.of({
      lookup: () => Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "cache_mode excludes exact" })),
      lookupHit: () => Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "cache_mode excludes exact" })),
      lookupNow: () => undefined,
      store: () => Effect.void,
      entry: () => Effect.succeed(undefined),
      remove: () => Effect.succeed(false),
      list: Effect.succeed([]),
      hits: () => 0,
      status: Effect.succeed({ status: "disabled", backend: "none", reason: "cache_mode" })
    })
  )
}
