import { Effect, Exit } from "effect"
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
    // Exits, not suspended effects: these are pure in-memory calls on the hit path, cheapest evaluated at once.
    get: (key) => Exit.succeed(entries.get(key)),
    set: (key, entry) => Exit.succeed(void entries.set(key, entry)),
    size: Effect.sync(() => {
      entries.purgeStale()
      return entries.size
    })
  }
}
