import type { EntryMeta } from "../CacheEntry.ts"
import type { VectorIndex } from "./VectorIndex.ts"

/** One L1b entry: what a lookup needs to filter, verify and answer. */
export interface SemanticEntry {
  /** Stable across replicas: a digest of scope and text. */
  readonly id: string
  readonly scope: string
  readonly text: string
  readonly completion: string
  /** Who asked, when, and the L1a entry stored with the same answer; absent on entries older than it. */
  readonly meta?: SemanticMeta | undefined
  /**
   * The encoder (id and version) whose vector the entry was stored with: entries of another encoder are never
   * compared. Absent on entries older than the field (they count as another encoder's).
   */
  readonly encoder?: string | undefined
  /** The version of the learned decision in use when the entry was stored, if one was. */
  readonly decision?: string | undefined
}

export type SemanticMeta = EntryMeta & { readonly exactKey?: string | undefined }

export interface Candidate {
  readonly label: number
  readonly entry: SemanticEntry
  readonly similarity: number
}

export interface LabelledIndexStatus {
  readonly entries: number
  /** Slots of the HNSW graph, live and freed: bounded by `cache_max_capacity` + 1. */
  readonly index_slots: number
  /** Slots the graph has room for: `cache_max_capacity` + 2, never grown by churn. */
  readonly index_allocated: number
  /** Memory the entries take (prompts, answers, vectors) and its bound, `cache_max_bytes`. */
  readonly bytes: number
  readonly max_bytes: number
  /** Entries dropped since start to stay within `cache_max_capacity` / `cache_max_bytes`. */
  readonly evictions: number
  /** Entries the graph refused since start, and the latest reason. */
  readonly insert_failures: number
  readonly last_insert_failure?: string
}

export interface LabelledIndexOptions {
  readonly capacity: number
  readonly maxBytes: number
  readonly ttlMs: number
  readonly dimensions: number
  readonly index: VectorIndex["Service"]
  /** The first stage's index, under the same labels, when the encoder has a fast distillation. */
  readonly fastIndex?: VectorIndex["Service"] | undefined
  /** The length of the first stage's vectors. */
  readonly fastDimensions?: number | undefined
  /** The gateway's clock (a test's, which it moves); without it, lru-cache's own. */
  readonly now?: (() => number) | undefined
}

const ENTRY_OVERHEAD_BYTES = 160

/** What an entry costs in memory, at most: two bytes a character (V8 uses one or two), its vectors, bookkeeping. */
export const semanticEntryBytes = (entry: SemanticEntry, vectorBytes: number) =>
  2 * (entry.id.length + entry.scope.length + entry.text.length + entry.completion.length) + vectorBytes +
  ENTRY_OVERHEAD_BYTES + (entry.meta ? 2 * (entry.meta.tenant.length + entry.meta.model.length + 64) : 0)
