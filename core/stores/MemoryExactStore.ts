import { Effect } from "effect"
import { LRUCache } from "lru-cache"
import type { ExactEntry, ExactStore } from "./ExactStore.ts"

export interface MemoryStoreOptions {
  readonly maxEntries: number
  readonly ttlMs: number
  /** Injected so tests can move time; defaults to the wall clock. */
  readonly now?: () => number
}

/** A bounded LRU with per-entry TTL, in this process. */
export const makeMemoryExactStore = (options: MemoryStoreOptions): ExactStore => {
  const entries = new LRUCache<string, ExactEntry>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {})
  })
  return {
    backend: "memory",
    get: (key) => Effect.sync(() => entries.get(key)),
    set: (key, entry) => Effect.sync(() => void entries.set(key, entry)),
    size: Effect.sync(() => {
      entries.purgeStale()
      return entries.size
    })
  }
}
