import { Context, Effect, Layer } from "effect"
import { LRUCache } from "lru-cache"
import { CacheKey } from "./CacheKey.ts"
import type { ChatRequest } from "./ChatRequest.ts"
import { AppConfig } from "./Config.ts"
import { Embedder } from "./Embedder.ts"
import { CacheMiss, LayerUnavailable } from "./errors.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { type Analysis, analyse, verify } from "./SemanticVerifier.ts"
import { SharedSemanticStore } from "./stores/RedisSemanticStore.ts"
import { VectorIndex } from "./VectorIndex.ts"

export interface SemanticHit {
  readonly completion: string
  readonly similarity: number
  /** Which stage found it: the fast static encoder, or the full model. */
  readonly stage: "fast" | "model"
}

interface Entry {
  /** Stable across replicas: a digest of scope and text. */
  readonly id: string
  readonly scope: string
  readonly text: string
  readonly completion: string
}

interface Message {
  readonly role: string
  readonly content?: unknown
}

const ENTRY_OVERHEAD_BYTES = 160

/** What an entry costs in memory, at most: two bytes a character (V8 uses one or two), its vectors, bookkeeping. */
export const semanticEntryBytes = (entry: Entry, vectorBytes: number) =>
  2 * (entry.id.length + entry.scope.length + entry.text.length + entry.completion.length) + vectorBytes + ENTRY_OVERHEAD_BYTES

const describe = (error: unknown): string => {
  // hnswlib-wasm throws WebAssembly exceptions whose message is ["std::runtime_error", "<what>"].
  const message = (error as { message?: unknown } | undefined)?.message
  if (Array.isArray(message)) return message.map(String).join(": ")
  return error instanceof Error ? error.message : String(error)
}

/**
 * How many nearest neighbours are checked against the threshold and the verifier. Not 4: a cache of questions that
 * differ only in a number ("feature 7" / "feature 17") crowds the top few with near-identical vectors the verifier
 * must reject, and the right entry can sit below them.
 */
export const CANDIDATES = 16

const textOf = (content: unknown): string | undefined => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return undefined
  if (content.some((part: { type?: string }) => part.type !== "text")) return undefined // images: no semantic match
  return content.map((part: { text?: string }) => part.text ?? "").join("")
}

/**
 * What L1b needs of a request: the last user message (what is embedded) and the scope that must match exactly
 * before similarity is considered — tenant, endpoint family, model, system prompt, earlier turns and every other
 * generation parameter. A request with tools, or whose last message is not plain user text, is not eligible.
 */
export const semanticView = (request: ChatRequest, digest: (value: unknown) => string): { text: string; scope: string } | string => {
  const { messages, tools, functions, stream: _stream, stream_options: _options, ...parameters } = request.body as {
    messages: Array<Message>
    tools?: unknown
    functions?: unknown
    [key: string]: unknown
  }
  if ((Array.isArray(tools) && tools.length > 0) || functions !== undefined) return "requests with tools use the exact cache only"
  const last = messages[messages.length - 1]
  if (last?.role !== "user") return "the last message is not from the user"
  const text = textOf(last.content)
  if (text === undefined || text.trim() === "") return "the last message is not plain text"
  const system = messages.filter((m) => m.role === "system" || m.role === "developer")
  const earlier = messages.slice(0, -1).filter((m) => m.role !== "system" && m.role !== "developer")
  return {
    text,
    scope: [request.tenant, request.family, request.model, digest(system), digest(earlier), digest(parameters)].join("|")
  }
}

/** L1b: answers a question asked before in other words, within the same scope, from an HNSW index of embeddings. */
export class SemanticCache extends Context.Service<SemanticCache, {
  readonly lookup: (request: ChatRequest, threshold: number) => Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable>
  readonly store: (request: ChatRequest, completion: string) => Effect.Effect<void, LayerUnavailable>
  readonly status: () => {
    readonly status: string
    readonly model: string
    readonly entries: number
    /** Slots of the HNSW graph, live and freed: bounded by `cache_max_capacity` + 1. */
    readonly index_slots: number
    /** Memory the entries take (prompts, answers, vectors) and its bound, `cache_max_bytes`. */
    readonly bytes: number
    readonly max_bytes: number
    /** Entries the graph refused since start, and the latest reason. */
    readonly insert_failures: number
    readonly last_insert_failure?: string
    /** The fast first stage: off, warming up (its table is being built after start-up), or ready. */
    readonly fast_stage: string
    readonly reason?: string
  }
}>()("isartor/SemanticCache") {
  static readonly layer = Layer.effect(
    SemanticCache,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const embedder = yield* Embedder
      const index = yield* VectorIndex
      const { digest } = yield* CacheKey
      // With cache_backend = redis: the entries every replica shares; this replica's index follows them.
      const shared = yield* Effect.serviceOption(SharedSemanticStore)
      // The first stage, when the encoder has a fast distillation: its own index under the same labels.
      const fastIndexOption = yield* Effect.serviceOption(FastVectorIndex)
      const fastIndex = fastIndexOption._tag === "Some" ? fastIndexOption.value : undefined
      const freeLabels: Array<number> = []
      let nextLabel = 0
      const labels = new Map<string, number>()
      // Vectors live in the HNSW graphs (wasm memory), but they are this cache's memory all the same.
      const vectorBytes = 4 * embedder.dimensions * (fastIndex ? 2 : 1)
      const entries = new LRUCache<number, Entry>({
        max: config.cache_max_capacity,
        maxSize: config.cache_max_bytes,
        sizeCalculation: (entry) => semanticEntryBytes(entry, vectorBytes),
        ttl: config.cache_ttl_secs * 1000,
        // An entry that leaves the cache (evicted, expired, replaced) leaves the index with it; its label is reused,
        // so the graphs never hold more slots than the cache holds entries.
        dispose: (entry, label) => {
          index.remove(label)
          fastIndex?.remove(label)
          labels.delete(entry.id)
          freeLabels.push(label)
        }
      })
      // Inserts the graph refused: an L1b that silently stops learning is the failure this makes visible.
      let insertFailures = 0
      let lastInsertFailure: string | undefined
      /** Adds an entry and its vectors; on failure nothing of it stays, and the reason is returned. */
      const insert = (entry: Entry, vector: Float32Array, fastVector?: Float32Array): string | undefined => {
        // A vector of another model (a replica configured differently, foreign data) cannot join this index.
        if (labels.has(entry.id) || vector.length !== embedder.dimensions) return undefined
        const label = freeLabels.pop() ?? nextLabel++
        // Entry first: if it evicts another, that one leaves the index (and frees its slot) before this vector joins.
        entries.set(label, entry)
        // lru-cache refuses an entry larger than the whole byte budget: nothing to index then.
        if (entries.peek(label) !== entry) {
          freeLabels.push(label)
          return undefined
        }
        labels.set(entry.id, label)
        try {
          index.add(label, vector)
          addFast(label, entry, fastVector)
          return undefined
        } catch (error) {
          entries.delete(label)
          insertFailures++
          lastInsertFailure = describe(error)
          return lastInsertFailure
        }
      }
      const addFast = (label: number, entry: Entry, known?: Float32Array) => {
        const fastVector = fastIndex && (known ?? embedder.fast(entry.text))
        if (fastVector) fastIndex.add(label, fastVector)
      }
      // The fast encoder becomes ready some seconds after start-up: entries cached before then join its index in
      // the background, a few hundred at a time, so no request waits on the catch-up.
      let fastCaughtUp = false
      const catchUpFast = Effect.suspend(() => {
        if (fastCaughtUp || !fastIndex || embedder.fast("") === undefined) return Effect.void
        fastCaughtUp = true
        const pending = [...entries.entries()]
        return Effect.forkDetach(Effect.gen(function*() {
          for (let i = 0; i < pending.length; i += 200) {
            for (const [label, entry] of pending.slice(i, i + 200)) if (entries.peek(label) === entry) addFast(label, entry)
            yield* Effect.yieldNow
          }
        })).pipe(Effect.asVoid)
      })
      if (shared._tag === "Some") {
        const loaded = yield* Effect.promise(() => shared.value.loadAll().catch(() => []))
        for (const [id, entry] of loaded) insert({ id, scope: entry.scope, text: entry.text, completion: entry.completion }, entry.vector)
        shared.value.onAdded((id, entry) => void insert({ id, scope: entry.scope, text: entry.text, completion: entry.completion }, entry.vector))
      }
      /** Whether a local entry may still be served: with Redis, only while its key lives there (TTL, FLUSHDB). */
      const stillShared = (label: number, entry: Entry): Effect.Effect<boolean, LayerUnavailable> =>
        shared._tag === "None"
          ? Effect.succeed(true)
          : shared.value.exists(entry.id).pipe(Effect.tap((exists) => Effect.sync(() => exists || entries.delete(label))))
      let lastPurge = 0
      const purgeExpired = () => {
        const now = Date.now()
        if (now - lastPurge < 1000) return
        lastPurge = now
        entries.purgeStale()
      }
      // The vectors of a request looked up and missed, kept for the store that follows its upstream answer.
      const vectors = new WeakMap<ChatRequest, Float32Array>()
      const fastVectors = new WeakMap<ChatRequest, Float32Array>()

      const vectorFor = (request: ChatRequest, text: string) => {
        const known = vectors.get(request)
        return known ? Effect.succeed(known) : embedder.embed(text)
      }

      return SemanticCache.of({
        lookup: (request, threshold) =>
          Effect.gen(function*() {
            const view = semanticView(request, digest)
            if (typeof view === "string") return yield* new LayerUnavailable({ layer: "l1b", reason: view })
            purgeExpired()
            yield* catchUpFast
            const inScope = (label: number) => entries.peek(label)?.scope === view.scope
            // What the verifier reads in the question: worked out once, when a first candidate reaches the cut.
            let question: Analysis | undefined
            /** The first candidate at or above `cut` that the verifier accepts and Redis (if any) still holds. */
            const firstAccepted = (candidates: ReadonlyArray<{ label: number; similarity: number }>, cut: number) =>
              Effect.gen(function*() {
                for (const candidate of candidates) {
                  if (candidate.similarity < cut) break
                  const entry = entries.get(candidate.label)
                  question ??= analyse(view.text)
                  if (entry && verify(question, entry.text, candidate.similarity).accept && (yield* stillShared(candidate.label, entry))) {
                    return { entry, similarity: candidate.similarity }
                  }
                }
                return undefined
              })
            // Stage 1, ≈ 0.2 ms: the static encoder finds close rephrasings at a stricter cut, with the same verifier.
            const fastVector = fastIndex && embedder.fast(view.text)
            if (fastVector) {
              fastVectors.set(request, fastVector)
              const found = yield* firstAccepted(fastIndex.search(fastVector, CANDIDATES, inScope), Math.max(threshold, config.semantic_fast_threshold))
              if (found) return { completion: found.entry.completion, similarity: found.similarity, stage: "fast" as const }
            }
            // Stage 2: the full model.
            const vector = yield* embedder.embed(view.text)
            vectors.set(request, vector)
            const found = yield* firstAccepted(index.search(vector, CANDIDATES, inScope), threshold)
            if (found) return { completion: found.entry.completion, similarity: found.similarity, stage: "model" as const }
            return yield* new CacheMiss({ layer: "l1b" })
          }),
        store: (request, completion) =>
          Effect.gen(function*() {
            const view = semanticView(request, digest)
            if (typeof view === "string") return
            const vector = yield* vectorFor(request, view.text)
            const entry = { id: digest({ scope: view.scope, text: view.text }), scope: view.scope, text: view.text, completion }
            const failure = insert(entry, vector, fastVectors.get(request))
            // Reported as a dropped write: counted, and warned about at most once per interval.
            if (failure !== undefined) return yield* new LayerUnavailable({ layer: "l1b", reason: `the index refused the entry: ${failure}` })
            if (shared._tag === "Some") yield* shared.value.put(entry.id, { ...entry, vector })
          }),
        status: () => {
          const embedderStatus = embedder.status()
          const fastStage = !fastIndex ? "off" : embedder.fast("") === undefined ? "warming up" : "ready"
          return {
            ...embedderStatus,
            entries: index.size(),
            index_slots: index.slots(),
            bytes: entries.calculatedSize,
            max_bytes: config.cache_max_bytes,
            insert_failures: insertFailures,
            ...(lastInsertFailure === undefined ? {} : { last_insert_failure: lastInsertFailure }),
            fast_stage: fastStage
          }
        }
      })
    })
  )
}
