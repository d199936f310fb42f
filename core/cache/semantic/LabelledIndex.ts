import { LRUCache } from "lru-cache"
import { messageOf } from "../../domain/errors.ts"
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
  /** Entries the graph refused since start, and the latest reason. */
  /** Entries dropped since start to stay within `cache_max_capacity` / `cache_max_bytes`. */
  readonly evictions: number
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

/**
 * A scope of at most this many entries keeps its vectors out of the graphs and is searched by reading them all:
 * exact, and as cheap as a graph search at this size. In the shared graph, hnswlib's filtered search walks until it
 * has found enough of the scope's own entries, so a small scope beside a large one cost a walk through most of the
 * graph, a call out of WASM per node; and a scope's first entries cost no call into WASM at all.
 */
export const SCAN_LIMIT = 256

/** A scope's live entries, and while it is small, their vectors (it joins the graphs past `SCAN_LIMIT`). */
interface ScopeEntries {
  count: number
  vectors: Map<number, Float32Array> | undefined
  fastVectors: Map<number, Float32Array> | undefined
}

interface Expiry {
  readonly at: number
  readonly label: number
  readonly entry: SemanticEntry
}

/**
 * Entries by the time they expire, soonest first (a binary heap): the expired ones are found without reading the
 * others. lru-cache's own `purgeStale` reads every entry, once a second: a pause that grew with the cache.
 */
const makeExpiryQueue = () => {
  let heap: Array<Expiry> = []
  const before = (i: number, j: number) => heap[i]!.at < heap[j]!.at
  const swap = (i: number, j: number) => {
    const held = heap[i]!
    heap[i] = heap[j]!
    heap[j] = held
  }
  const down = (from: number) => {
    for (let i = from;;) {
      const left = 2 * i + 1
      const right = left + 1
      let first = i
      if (left < heap.length && before(left, first)) first = left
      if (right < heap.length && before(right, first)) first = right
      if (first === i) return
      swap(i, first)
      i = first
    }
  }
  return {
    size: () => heap.length,
    push: (expiry: Expiry) => {
      heap.push(expiry)
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1
        if (!before(i, parent)) return
        swap(i, parent)
        i = parent
      }
    },
    /** The soonest expiry at or before `now`, taken off the queue. */
    takeDue: (now: number): Expiry | undefined => {
      const first = heap[0]
      if (first === undefined || first.at > now) return undefined
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        down(0)
      }
      return first
    },
    /** Keeps only what `keep` lets through (entries evicted or replaced before they expired leave). */
    retain: (keep: (expiry: Expiry) => boolean) => {
      heap = heap.filter(keep)
      for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i)
    }
  }
}

/** The `k` most similar of `vectors` to `query` (inner product of normalised vectors), most similar first. */
export const scanNearest = (
  vectors: ReadonlyMap<number, Float32Array>,
  query: Float32Array,
  k: number
): Array<{ readonly label: number; readonly similarity: number }> => {
  const nearest: Array<{ label: number; similarity: number }> = []
  const length = query.length
  for (const [label, vector] of vectors) {
    if (vector.length !== length) continue
    let similarity = 0
    for (let i = 0; i < length; i++) similarity += vector[i]! * query[i]!
    if (nearest.length === k && similarity <= nearest[k - 1]!.similarity) continue
    let at = nearest.length === k ? k - 1 : nearest.length
    if (nearest.length < k) nearest.push({ label, similarity })
    while (at > 0 && nearest[at - 1]!.similarity < similarity) {
      nearest[at] = nearest[at - 1]!
      at--
    }
    nearest[at] = { label, similarity }
  }
  return nearest
}

/** What an entry costs in memory, at most: two bytes a character (V8 uses one or two), its vectors, bookkeeping. */
export const semanticEntryBytes = (entry: SemanticEntry, vectorBytes: number) =>
  2 * (entry.id.length + entry.scope.length + entry.text.length + entry.completion.length) + vectorBytes +
  ENTRY_OVERHEAD_BYTES + (entry.meta ? 2 * (entry.meta.tenant.length + entry.meta.model.length + 64) : 0)

const describe = (error: unknown): string => {
  // hnswlib-wasm throws WebAssembly exceptions whose message is ["std::runtime_error", "<what>"].
  const message = (error as { message?: unknown } | undefined)?.message
  if (Array.isArray(message)) return message.map(String).join(": ")
  return messageOf(error)
}

/**
 * L1b's entries and their vectors under one label each: a bounded LRU (entries, bytes, TTL) whose evictions take
 * the vectors out of the HNSW graphs, and whose freed labels are reused, so the graphs hold no more slots than the
 * cache holds entries. Only scopes past `SCAN_LIMIT` entries are in the graphs: a search in scope then costs the
 * same whether the cache holds a hundred entries or a hundred thousand in other scopes.
 */
export const makeLabelledIndex = (options: LabelledIndexOptions) => {
  const { index, fastIndex } = options
  const freeLabels: Array<number> = []
  let evictions = 0
  let nextLabel = 0
  const labels = new Map<string, number>()
  // Live entries per scope: a scope with none needs no search, and when one scope is all the graph holds it is
  // searched without asking, for each node it visits, whose it is (a call out of WASM per node: 12 % of a miss).
  const scopes = new Map<string, ScopeEntries>()
  let scopesInGraph = 0
  // Times each entry answered on this replica, by id.
  const hits = new Map<string, number>()
  // Vectors live in the HNSW graphs (wasm memory), but they are this cache's memory all the same.
  const vectorBytes = 4 * (options.dimensions + (fastIndex ? options.fastDimensions ?? options.dimensions : 0))
  const entries = new LRUCache<number, SemanticEntry>({
    max: options.capacity,
    maxSize: options.maxBytes,
    sizeCalculation: (entry) => semanticEntryBytes(entry, vectorBytes),
    ttl: options.ttlMs,
    // An entry that leaves (evicted, expired, replaced) takes its vectors with it and frees its label.
    dispose: (entry, label, reason) => {
      if (reason === "evict") evictions++
      const scope = scopes.get(entry.scope)
      if (scope?.vectors) {
        scope.vectors.delete(label)
        scope.fastVectors?.delete(label)
      } else {
        index.remove(label)
        fastIndex?.remove(label)
      }
      if (scope && --scope.count === 0) {
        scopes.delete(entry.scope)
        if (!scope.vectors) scopesInGraph--
      }
      labels.delete(entry.id)
      hits.delete(entry.id)
      freeLabels.push(label)
    },
    // Read at every expiry check, not once a millisecond: a test that moves its clock sees entries expire at once.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {})
  })
  // Inserts the graph refused: an L1b that silently stops learning is the failure this makes visible.
  let insertFailures = 0
  let lastInsertFailure: string | undefined
  // The clock lru-cache reads expiry by.
  const clock = options.now ?? (() => performance.now())
  const expiries = makeExpiryQueue()

  const addFast = (label: number, fastVector: Float32Array | undefined) => {
    if (fastIndex && fastVector) fastIndex.add(label, fastVector)
  }

  const fail = (error: unknown) => {
    insertFailures++
    lastInsertFailure = describe(error)
    return lastInsertFailure
  }

  /** A scope grown past `SCAN_LIMIT` moves its vectors into the graphs; an entry the graph refuses leaves. */
  const joinGraphs = (scope: ScopeEntries) => {
    const { vectors, fastVectors } = scope
    if (!vectors) return
    scope.vectors = undefined
    scope.fastVectors = undefined
    scopesInGraph++
    const refused: Array<number> = []
    for (const [label, vector] of vectors) {
      try {
        index.add(label, vector)
        addFast(label, fastVectors?.get(label))
      } catch (error) {
        fail(error)
        refused.push(label)
      }
    }
    for (const label of refused) entries.delete(label)
  }

  const search = (
    graph: VectorIndex["Service"],
    held: (scope: ScopeEntries) => Map<number, Float32Array> | undefined,
    vector: Float32Array,
    k: number,
    scope: string
  ): Array<Candidate> => {
    const entriesOfScope = scopes.get(scope)
    if (!entriesOfScope) return []
    const vectors = held(entriesOfScope)
    const nearest = vectors
      ? scanNearest(vectors, vector, k)
      : graph.search(vector, k, scopesInGraph === 1 ? undefined : (label) => entries.peek(label)?.scope === scope)
    return nearest.flatMap(({ label, similarity }) => {
      // Peeked, not read: only the entry that answers counts as used (`served`).
      const entry = entries.peek(label)
      return entry && entry.scope === scope ? [{ label, entry, similarity }] : []
    })
  }

  return {
    /** Adds an entry and its vectors; on failure nothing of it stays, and the reason is returned. */
    insert: (
      entry: SemanticEntry,
      vector: Float32Array,
      fastVector?: Float32Array,
      ttlMs?: number
    ): string | undefined => {
      // A vector of another model (a replica configured differently, foreign data) cannot join this index.
      if (labels.has(entry.id) || vector.length !== options.dimensions) return undefined
      const label = freeLabels.pop() ?? nextLabel++
      // Entry first: if it evicts another, that one leaves the graph (and frees its slot) before this vector joins.
      entries.set(label, entry, ttlMs === undefined ? undefined : { ttl: ttlMs })
      // lru-cache refuses an entry larger than the whole byte budget: nothing to index then.
      if (entries.peek(label) !== entry) {
        freeLabels.push(label)
        return undefined
      }
      labels.set(entry.id, label)
      // lru-cache reads a TTL of 0 as none.
      const lifetime = ttlMs ?? options.ttlMs
      if (lifetime > 0) expiries.push({ at: clock() + lifetime, label, entry })
      // Entries that left before they expired stay queued until then: never more of them than live entries.
      if (expiries.size() > 2 * entries.size + 1024) {
        expiries.retain((expiry) => entries.peek(expiry.label, { allowStale: true }) === expiry.entry)
      }
      let scope = scopes.get(entry.scope)
      if (!scope) {
        scope = { count: 0, vectors: new Map(), fastVectors: fastIndex ? new Map() : undefined }
        scopes.set(entry.scope, scope)
      }
      scope.count++
      if (scope.vectors) {
        scope.vectors.set(label, vector)
        if (fastVector) scope.fastVectors?.set(label, fastVector)
        if (scope.count > SCAN_LIMIT) joinGraphs(scope)
        return entries.peek(label) === entry ? undefined : lastInsertFailure
      }
      try {
        index.add(label, vector)
        addFast(label, fastVector)
        return undefined
      } catch (error) {
        entries.delete(label)
        return fail(error)
      }
    },
    /** Candidates of the full model's graph within `scope`, most similar first. */
    searchModel: (vector: Float32Array, k: number, scope: string) =>
      search(index, (held) => held.vectors, vector, k, scope),
    /** The vector an entry was indexed with (the main graph's); not to be written to. */
    vectorOf: (label: number): Float32Array | undefined => {
      const entry = entries.peek(label)
      return (entry && scopes.get(entry.scope)?.vectors?.get(label)) ?? index.vector(label)
    },
    /** Candidates of the fast stage's graph within `scope`, most similar first (none without a fast stage). */
    searchFast: (vector: Float32Array, k: number, scope: string) =>
      fastIndex ? search(fastIndex, (held) => held.fastVectors, vector, k, scope) : [],
    /** Marks the entry that answered as recently used. */
    served: (label: number) => {
      const entry = entries.get(label)
      if (entry) hits.set(entry.id, (hits.get(entry.id) ?? 0) + 1)
    },
    remove: (label: number) => void entries.delete(label),
    /** Removes the entry with this id and its vectors; whether it was there. */
    removeById: (id: string): boolean => {
      const label = labels.get(id)
      return label !== undefined && entries.delete(label)
    },
    byId: (id: string): SemanticEntry | undefined => {
      const label = labels.get(id)
      return label === undefined ? undefined : entries.peek(label)
    },
    hits: (id: string) => hits.get(id) ?? 0,
    /** Entries in the cache now, for the fast stage's catch-up. */
    snapshot: () => [...entries.entries()],
    /** Adds the fast vector of an entry that is still in the cache. */
    addFastIfPresent: (label: number, entry: SemanticEntry, fastVector: Float32Array | undefined) => {
      if (entries.peek(label) !== entry) return
      const held = scopes.get(entry.scope)?.fastVectors
      if (held) {
        if (fastVector) held.set(label, fastVector)
        return
      }
      try {
        addFast(label, fastVector)
      } catch (error) {
        // The full model's graph still finds the entry; only the shortcut is lost.
        fail(error)
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
    },
    status: (): LabelledIndexStatus => ({
      entries: entries.size,
      index_slots: index.slots(),
      index_allocated: index.allocated(),
      bytes: entries.calculatedSize,
      max_bytes: options.maxBytes,
      evictions,
      insert_failures: insertFailures,
      ...(lastInsertFailure === undefined ? {} : { last_insert_failure: lastInsertFailure })
    })
  }
}

export type LabelledIndex = ReturnType<typeof makeLabelledIndex>
