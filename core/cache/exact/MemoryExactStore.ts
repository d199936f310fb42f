import { Effect, Exit } from "effect"
import { LRUCache } from "lru-cache"
import type { ExactEntry, ExactStore } from "./ExactStore.ts"

export interface MemoryStoreOptions {
  readonly maxEntries: number
  /** Most memory the entries may take, as counted by `exactEntryBytes`. */
  readonly maxBytes: number
  readonly ttlMs: number
  /** The gateway's clock (a test's, which it moves); without it, lru-cache's own. */
  readonly now?: () => number
}

/**
 * What an entry costs in memory, at most: V8 keeps a string in one or two bytes a character, so two are counted,
 * plus the map's own bookkeeping.
 */
export const exactEntryBytes = (key: string, entry: ExactEntry) =>
  2 * (key.length + entry.check.length + entry.completion.length + metaChars(entry)) + ENTRY_OVERHEAD_BYTES

const metaChars = (entry: ExactEntry) =>
  entry.meta === undefined
    ? 0
    : entry.meta.tenant.length + entry.meta.model.length + entry.meta.question.length +
      (entry.meta.semanticKey?.length ?? 0) + 32

export const ENTRY_OVERHEAD_BYTES = 96

/** A LRU with per-entry TTL, in this process, bounded in entries and in bytes. */
export const makeMemoryExactStore = (options: MemoryStoreOptions): ExactStore => {
  let evictions = 0
  const entries = new LRUCache<string, ExactEntry>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    // An entry larger than the whole budget is not kept (lru-cache refuses it) rather than emptying the cache.
    sizeCalculation: (entry, key) => exactEntryBytes(key, entry),
    ttl: options.ttlMs,
    // Counted for isartor_cache_evictions_total: entries pushed out by the bounds, not those that expired.
    disposeAfter: (_entry, _key, reason) => {
      if (reason === "evict") evictions++
    },
    // Read at every expiry check, not once a millisecond: a test that moves its clock sees entries expire at once.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {})
  })
  return {
    backend: "memory",
    // Exits, not suspended effects: these are pure in-memory calls on the hit path, cheapest evaluated at once.
    get: (key) => Exit.succeed(entries.get(key)),
    getNow: (key) => entries.get(key),
    set: (key, entry, ttlMs) =>
      Exit.succeed(void entries.set(key, entry, ttlMs === undefined ? undefined : { ttl: ttlMs })),
    remove: (key) => Effect.sync(() => entries.delete(key)),
    list: Effect.sync(() => {
      entries.purgeStale()
      return [...entries.entries()]
    }),
    size: Effect.sync(() => {
      entries.purgeStale()
      return entries.size
    }),
    bytes: () => ({ used: entries.calculatedSize, max: options.maxBytes }),
    evictions: () => evictions
  }
}
