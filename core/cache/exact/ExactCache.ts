import { Context, Effect, Layer } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import type { ExactKey } from "../CacheKey.ts"
import type { ExactStore } from "./ExactStore.ts"
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

/** L1a: answers a request seen before, byte for byte, from a bounded store with TTL. */
export class ExactCache extends Context.Service<ExactCache, {
  /** The serialised completion stored under the key, verified by its second digest. */
  readonly lookup: (key: ExactKey) => Effect.Effect<string, CacheMiss | LayerUnavailable>
  readonly store: (key: ExactKey, completion: string) => Effect.Effect<void, LayerUnavailable>
  readonly status: Effect.Effect<ExactCacheStatus>
}>()("isartor/ExactCache") {
  static readonly make = (store: ExactStore) =>
    ExactCache.of({
      lookup: (key) =>
        Effect.flatMap(store.get(key.key), (entry) =>
          // A matching first digest with a different second one is a 64-bit collision: never serve it.
          entry === undefined || entry.check !== key.check
            ? Effect.fail(new CacheMiss({ layer: "l1a" }))
            : Effect.succeed(entry.completion)),
      store: (key, completion) => store.set(key.key, { check: key.check, completion }),
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
        Effect.catchTag("LayerUnavailable", (error) =>
          Effect.succeed<ExactCacheStatus>({ status: "unavailable", backend: store.backend, reason: error.reason }))
      )
    })

  static readonly layerMemory = Layer.effect(
    ExactCache,
    Effect.gen(function*() {
      const config = yield* AppConfig
      return ExactCache.make(
        makeMemoryExactStore({
          maxEntries: config.cache_max_capacity,
          maxBytes: config.cache_max_bytes,
          ttlMs: config.cache_ttl_secs * 1000
        })
      )
    })
  )

  /** L1a turned off (`cache_mode = semantic`): every lookup falls through, writes are dropped. */
  static readonly layerDisabled = Layer.succeed(
    ExactCache,
    ExactCache.of({
      lookup: () => Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "cache_mode excludes exact" })),
      store: () => Effect.void,
      status: Effect.succeed({ status: "disabled", backend: "none", reason: "cache_mode" })
    })
  )
}
