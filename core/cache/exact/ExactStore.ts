import type { Effect } from "effect"
import type { LayerUnavailable } from "../../domain/errors.ts"

/** One exact-cache entry: the answer, serialised, and the second digest that proves it belongs to the key. */
export interface ExactEntry {
  readonly check: string
  readonly completion: string
}

/** Where L1a entries live. Memory now; Redis implements the same shape. A backend that is down says so. */
export interface ExactStore {
  readonly backend: string
  readonly get: (key: string) => Effect.Effect<ExactEntry | undefined, LayerUnavailable>
  readonly set: (key: string, entry: ExactEntry) => Effect.Effect<void, LayerUnavailable>
  readonly size: Effect.Effect<number, LayerUnavailable>
  /** Memory the entries take, for a store in this process (Redis bounds its own with `maxmemory`). */
  readonly bytes?: () => { readonly used: number; readonly max: number }
  /** Entries dropped since start to stay within the bounds, for a store in this process. */
  readonly evictions?: () => number
}
