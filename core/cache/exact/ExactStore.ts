import type { Effect } from "effect"
import type { LayerUnavailable } from "../../domain/errors.ts"
import type { EntryMeta } from "../CacheEntry.ts"

/** One exact-cache entry: the answer, serialised, and the second digest that proves it belongs to the key. */
export interface ExactEntry {
  readonly check: string
  readonly completion: string
  /** Who asked what, when; absent on entries written before it was kept. */
  readonly meta?: ExactMeta | undefined
}

/** An L1a entry's metadata, and the key of the L1b entry stored with the same answer, if any. */
export type ExactMeta = EntryMeta & { readonly semanticKey?: string | undefined }

/** Where L1a entries live. Memory now; Redis implements the same shape. A backend that is down says so. */
export interface ExactStore {
  readonly backend: string
  readonly get: (key: string) => Effect.Effect<ExactEntry | undefined, LayerUnavailable>
  /** `get` answered at once, for a store in this process: what lets an exact hit skip the effect runtime. */
  readonly getNow?: (key: string) => ExactEntry | undefined
  /** Stores an entry for `ttlMs`, or for the store's own TTL. */
  readonly set: (key: string, entry: ExactEntry, ttlMs?: number) => Effect.Effect<void, LayerUnavailable>
  /** Removes an entry; whether it was there. */
  readonly remove: (key: string) => Effect.Effect<boolean, LayerUnavailable>
  /** Every live entry with its key: for the admin API, not the request path. */
  readonly list: Effect.Effect<Array<readonly [string, ExactEntry]>, LayerUnavailable>
  readonly size: Effect.Effect<number, LayerUnavailable>
  /** Memory the entries take, for a store in this process (Redis bounds its own with `maxmemory`). */
  readonly bytes?: () => { readonly used: number; readonly max: number }
  /** Entries dropped since start to stay within the bounds, for a store in this process. */
  readonly evictions?: () => number
}
