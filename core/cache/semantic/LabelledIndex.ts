import {
  addFast,
  addToGraphs,
  failInsert,
  joinGraphs,
  type LabelledState,
  makeLabelledState,
  searchScope
} from "./labelledState.ts"
import { SCAN_LIMIT } from "./scopeScan.ts"
import type { LabelledIndexOptions, LabelledIndexStatus, SemanticEntry } from "./semanticEntry.ts"

export { SCAN_LIMIT, scanNearest } from "./scopeScan.ts"
export type {
  Candidate,
  LabelledIndexOptions,
  LabelledIndexStatus,
  SemanticEntry,
  SemanticMeta
} from "./semanticEntry.ts"
export { semanticEntryBytes } from "./semanticEntry.ts"

/** Adds an entry and its vectors; on failure nothing of it stays, and the reason is returned. */
const makeInsert = (state: LabelledState) =>
(
  entry: SemanticEntry,
  vector: Float32Array,
  fastVector?: Float32Array,
  ttlMs?: number
): string | undefined => {
  const { options, entries, counts, expiries } = state
  // A vector of another model (a replica configured differently, foreign data) cannot join this index.
  if (state.labels.has(entry.id) || vector.length !== options.dimensions) return undefined
  const label = state.freeLabels.pop() ?? counts.nextLabel++
  // Entry first: if it evicts another, that one leaves the graph (and frees its slot) before this vector joins.
  entries.set(label, entry, ttlMs === undefined ? undefined : { ttl: ttlMs })
  // lru-cache refuses an entry larger than the whole byte budget: nothing to index then.
  if (entries.peek(label) !== entry) {
    state.freeLabels.push(label)
    return undefined
  }
  state.labels.set(entry.id, label)
  // lru-cache reads a TTL of 0 as none.
  const lifetime = ttlMs ?? options.ttlMs
  if (lifetime > 0) expiries.push({ at: state.clock() + lifetime, label, entry })
  // Entries that left before they expired stay queued until then: never more of them than live entries.
  if (expiries.size() > 2 * entries.size + 1024) {
    expiries.retain((expiry) => entries.peek(expiry.label, { allowStale: true }) === expiry.entry)
  }
  let scope = state.scopes.get(entry.scope)
  if (!scope) {
    scope = { count: 0, vectors: new Map(), fastVectors: state.fastIndex ? new Map() : undefined }
    state.scopes.set(entry.scope, scope)
  }
  scope.count++
  if (scope.vectors) {
    scope.vectors.set(label, vector)
    if (fastVector) scope.fastVectors?.set(label, fastVector)
    if (scope.count > SCAN_LIMIT) joinGraphs(state, scope)
    return entries.peek(label) === entry ? undefined : counts.lastInsertFailure
  }
  try {
    addToGraphs(state, label, vector, fastVector)
    return undefined
  } catch (error) {
    entries.delete(label)
    return failInsert(state, error)
  }
}

/** Finding entries: by vector within a scope, by id, and the vector an entry was indexed with. */
const makeReads = (state: LabelledState) => {
  const { index, fastIndex, entries, labels } = state
  return {
    /** Candidates of the full model's graph within `scope`, most similar first. */
    searchModel: (vector: Float32Array, k: number, scope: string) =>
      searchScope(state, index, state.stale.model, (held) => held.vectors, vector, k, scope),
    /** The vector an entry was indexed with (the main graph's); not to be written to. */
    vectorOf: (label: number): Float32Array | undefined => {
      const entry = entries.peek(label)
      return (entry && state.scopes.get(entry.scope)?.vectors?.get(label)) ?? index.vector(label)
    },
    /** Candidates of the fast stage's graph within `scope`, most similar first (none without a fast stage). */
    searchFast: (vector: Float32Array, k: number, scope: string) =>
      fastIndex ? searchScope(state, fastIndex, state.stale.fast, (held) => held.fastVectors, vector, k, scope) : [],
    byId: (id: string): SemanticEntry | undefined => {
      const label = labels.get(id)
      return label === undefined ? undefined : entries.peek(label)
    },
    hits: (id: string) => state.hits.get(id) ?? 0,
    /** Entries in the cache now, for the fast stage's catch-up. */
    snapshot: () => [...entries.entries()]
  }
}

/** Changing entries: use, removal, the fast stage's catch-up and expiry. */
const makeWrites = (state: LabelledState) => {
  const { entries, labels, clock, expiries } = state
  return {
    /** Marks the entry that answered as recently used. */
    served: (label: number) => {
      const entry = entries.get(label)
      if (entry) state.hits.set(entry.id, (state.hits.get(entry.id) ?? 0) + 1)
    },
    remove: (label: number) => void entries.delete(label),
    /** Removes the entry with this id and its vectors; whether it was there. */
    removeById: (id: string): boolean => {
      const label = labels.get(id)
      return label !== undefined && entries.delete(label)
    },
    /** Adds the fast vector of an entry that is still in the cache. */
    addFastIfPresent: (label: number, entry: SemanticEntry, fastVector: Float32Array | undefined) => {
      if (entries.peek(label) !== entry) return
      const held = state.scopes.get(entry.scope)?.fastVectors
      if (held) {
        if (fastVector) held.set(label, fastVector)
        return
      }
      try {
        addFast(state, label, fastVector)
      } catch (error) {
        // The full model's graph still finds the entry; only the shortcut is lost.
        failInsert(state, error)
      }
    },
    /**
     * Drops expired entries (and their vectors) by `now` on the index's clock (`options.now`): reads only those,
     * however many others the cache holds.
     */
    purgeExpired: (now = clock()) => {
      for (let due = expiries.takeDue(now); due !== undefined; due = expiries.takeDue(now)) {
        if (entries.peek(due.label, { allowStale: true }) === due.entry) entries.delete(due.label)
      }
    }
  }
}

const statusOf = (state: LabelledState): LabelledIndexStatus => {
  const { index, entries, counts } = state
  return {
    entries: entries.size,
    index_slots: index.slots(),
    index_allocated: index.allocated(),
    bytes: entries.calculatedSize,
    max_bytes: state.options.maxBytes,
    evictions: counts.evictions,
    insert_failures: counts.insertFailures,
    ...(counts.lastInsertFailure === undefined ? {} : { last_insert_failure: counts.lastInsertFailure })
  }
}

/**
 * L1b's entries and their vectors under one label each: a bounded LRU (entries, bytes, TTL) whose evictions take
 * the vectors out of the HNSW graphs, and whose freed labels are reused, so the graphs hold no more slots than the
 * cache holds entries. Only scopes past `SCAN_LIMIT` entries are in the graphs: a search in scope then costs the
 * same whether the cache holds a hundred entries or a hundred thousand in other scopes.
 */
export const makeLabelledIndex = (options: LabelledIndexOptions) => {
  const state = makeLabelledState(options)
  return {
    insert: makeInsert(state),
    ...makeReads(state),
    ...makeWrites(state),
    status: () => statusOf(state)
  }
}

export type LabelledIndex = ReturnType<typeof makeLabelledIndex>
