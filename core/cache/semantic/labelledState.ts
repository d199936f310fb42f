import { LRUCache } from "lru-cache"
import { messageOf } from "../../domain/errors.ts"
import { makeExpiryQueue } from "./expiryQueue.ts"
import { scanNearest, type ScopeEntries } from "./scopeScan.ts"
import { type Candidate, type LabelledIndexOptions, type SemanticEntry, semanticEntryBytes } from "./semanticEntry.ts"
import type { VectorIndex } from "./VectorIndex.ts"

const describe = (error: unknown): string => {
  // hnswlib-wasm throws WebAssembly exceptions whose message is ["std::runtime_error", "<what>"].
  const message = (error as { message?: unknown } | undefined)?.message
  if (Array.isArray(message)) return message.map(String).join(": ")
  return messageOf(error)
}

/** What the labelled index keeps beside its entries: their labels and scopes, its counters and expiry queue. */
const makeStateParts = (options: LabelledIndexOptions) => {
  const { index, fastIndex } = options
  const counts = {
    evictions: 0,
    nextLabel: 0,
    scopesInGraph: 0,
    // Inserts the graph refused: an L1b that silently stops learning is the failure this makes visible.
    insertFailures: 0,
    lastInsertFailure: undefined as string | undefined
  }
  const state = {
    options,
    index,
    fastIndex,
    counts,
    freeLabels: [] as Array<number>,
    labels: new Map<string, number>(),
    // Live entries per scope: a scope with none needs no search, and when one scope is all the graph holds it is
    // searched without asking, for each node it visits, whose it is (a call out of WASM per node).
    scopes: new Map<string, ScopeEntries>(),
    // Times each entry answered on this replica, by id.
    hits: new Map<string, number>(),
    // The clock lru-cache reads expiry by.
    clock: options.now ?? (() => performance.now()),
    stale: { model: new Set<number>(), fast: new Set<number>() },
    expiries: makeExpiryQueue()
  }
  return state
}

type StateParts = ReturnType<typeof makeStateParts>

/** The bounded LRU (entries, bytes, TTL) whose every departure takes the entry's vectors and frees its label. */
const makeEntries = (state: StateParts) => {
  const { options, index, fastIndex, scopes, counts } = state
  // Vectors live in the HNSW graphs (wasm memory), but they are this cache's memory all the same.
  const vectorBytes = 4 * (options.dimensions + (fastIndex ? options.fastDimensions ?? options.dimensions : 0))
  return new LRUCache<number, SemanticEntry>({
    max: options.capacity,
    maxSize: options.maxBytes,
    sizeCalculation: (entry) => semanticEntryBytes(entry, vectorBytes),
    ttl: options.ttlMs,
    // An entry that leaves (evicted, expired, replaced) takes its vectors with it and frees its label.
    dispose: (entry, label, reason) => {
      if (reason === "evict") counts.evictions++
      const scope = scopes.get(entry.scope)
      if (scope?.vectors) {
        scope.vectors.delete(label)
        scope.fastVectors?.delete(label)
      } else {
        // Left in the graphs, stale, until the label is used again: hnswlib-wasm's markDelete and unmarkDelete
        // each rebuild a table of every label in the graph, a cost that grew with the cache on every eviction.
        state.stale.model.add(label)
        if (fastIndex) state.stale.fast.add(label)
      }
      if (scope && --scope.count === 0) {
        scopes.delete(entry.scope)
        if (!scope.vectors) counts.scopesInGraph--
      }
      state.labels.delete(entry.id)
      state.hits.delete(entry.id)
      state.freeLabels.push(label)
    },
    // Read at every expiry check, not once a millisecond: a test that moves its clock sees entries expire at once.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {})
  })
}

/** What the labelled index keeps between calls: its entries, their labels and scopes, and its counters. */
export const makeLabelledState = (options: LabelledIndexOptions) => {
  const parts = makeStateParts(options)
  return { ...parts, entries: makeEntries(parts) }
}

export type LabelledState = ReturnType<typeof makeLabelledState>

/** Counts a refused insert; the reason. */
export const failInsert = (state: LabelledState, error: unknown) => {
  state.counts.insertFailures++
  return state.counts.lastInsertFailure = describe(error)
}

export const addFast = (state: LabelledState, label: number, fastVector: Float32Array | undefined) => {
  if (!state.fastIndex || !fastVector) return
  state.fastIndex.add(label, fastVector)
  state.stale.fast.delete(label)
}

/** Puts an entry's vectors in the graphs under its label, replacing in place whatever stale vectors it had there. */
export const addToGraphs = (
  state: LabelledState,
  label: number,
  vector: Float32Array,
  fastVector: Float32Array | undefined
) => {
  state.index.add(label, vector)
  state.stale.model.delete(label)
  addFast(state, label, fastVector)
}

/** A scope grown past `SCAN_LIMIT` moves its vectors into the graphs; an entry the graph refuses leaves. */
export const joinGraphs = (state: LabelledState, scope: ScopeEntries) => {
  const { vectors, fastVectors } = scope
  if (!vectors) return
  scope.vectors = undefined
  scope.fastVectors = undefined
  state.counts.scopesInGraph++
  const refused: Array<number> = []
  for (const [label, vector] of vectors) {
    try {
      addToGraphs(state, label, vector, fastVectors?.get(label))
    } catch (error) {
      failInsert(state, error)
      refused.push(label)
    }
  }
  for (const label of refused) state.entries.delete(label)
}

/**
 * Stale labels a graph search asks for beyond `k` and drops, rather than asking, for each node it visits, whose it
 * is (a call out of WASM per node). At most the graph's own search breadth over `CANDIDATES`: a search no wider.
 */
export const STALE_OVERFETCH = 8

/** The `k` nearest of a graph's vectors in `scope`: its stale vectors (`stale`) are never among them. */
const searchGraph = (
  state: LabelledState,
  graph: VectorIndex["Service"],
  stale: ReadonlySet<number>,
  vector: Float32Array,
  k: number,
  scope: string
) => {
  const { entries } = state
  if (state.counts.scopesInGraph !== 1 || stale.size > STALE_OVERFETCH) {
    return graph.search(vector, k, (label) => !stale.has(label) && entries.peek(label)?.scope === scope)
  }
  if (stale.size === 0) return graph.search(vector, k)
  return graph.search(vector, k + stale.size).filter(({ label }) => !stale.has(label)).slice(0, k)
}

/** Candidates of `graph` (or of the scope's own vectors, while it is small) within `scope`, most similar first. */
export const searchScope = (
  state: LabelledState,
  graph: VectorIndex["Service"],
  stale: ReadonlySet<number>,
  held: (scope: ScopeEntries) => Map<number, Float32Array> | undefined,
  vector: Float32Array,
  k: number,
  scope: string
): Array<Candidate> => {
  const { entries } = state
  const entriesOfScope = state.scopes.get(scope)
  if (!entriesOfScope) return []
  const vectors = held(entriesOfScope)
  const nearest = vectors ? scanNearest(vectors, vector, k) : searchGraph(state, graph, stale, vector, k, scope)
  return nearest.flatMap(({ label, similarity }) => {
    // Peeked, not read: only the entry that answers counts as used (`served`).
    const entry = entries.peek(label)
    return entry && entry.scope === scope ? [{ label, entry, similarity }] : []
  })
}
