import { Context, Effect, Layer } from "effect"
import { AppConfig } from "../../config/Config.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import { plainTextOf, usesTools } from "../../domain/messages.ts"
import { Embedder, type EmbedderStatus } from "../../embedding/Embedder.ts"
import { CacheKey } from "../CacheKey.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { type Candidate, type LabelledIndexStatus, makeLabelledIndex, type SemanticEntry } from "./LabelledIndex.ts"
import { SharedSemanticStore } from "./RedisSemanticStore.ts"
import { analyse, type Analysis, MAX_VERIFIED_CHARS, verify } from "./SemanticVerifier.ts"
import { VectorIndex } from "./VectorIndex.ts"

export interface SemanticHit {
  readonly completion: string
  readonly similarity: number
  /** Which stage found it: the fast static encoder, or the full model. */
  readonly stage: "fast" | "model"
}

/**
 * How many nearest neighbours are checked against the threshold and the verifier. Not 4: a cache of questions that
 * differ only in a number ("feature 7" / "feature 17") crowds the top few with near-identical vectors the verifier
 * must reject, and the right entry can sit below them.
 */
export const CANDIDATES = 16

/**
 * What L1b needs of a request: the last user message (what is embedded) and the scope that must match exactly
 * before similarity is considered — tenant, endpoint family, model, system prompt, earlier turns and every other
 * generation parameter. A request with tools, or whose last message is not plain user text, is not eligible.
 */
export const semanticView = (
  request: ChatRequest,
  digest: (value: unknown) => string
): { text: string; scope: string } | string => {
  const { messages, tools: _tools, functions: _functions, stream: _stream, stream_options: _options, ...parameters } =
    request.body
  if (usesTools(request.body)) return "requests with tools use the exact cache only"
  const last = request.messages[request.messages.length - 1]
  if (last?.role !== "user") return "the last message is not from the user"
  const text = plainTextOf(last.content)
  if (text === undefined || text.trim() === "") return "the last message is not plain text"
  // The verifier accepts nothing longer, so such a question is neither embedded nor stored: L1a alone serves it.
  if (text.length > MAX_VERIFIED_CHARS) return `the last message is longer than ${MAX_VERIFIED_CHARS} characters`
  const system = request.messages.filter((m) => m.role === "system" || m.role === "developer")
  const earlier = request.messages.slice(0, -1).filter((m) => m.role !== "system" && m.role !== "developer")
  return {
    text,
    scope: [request.tenant, request.family, request.model, digest(system), digest(earlier), digest(parameters)].join(
      "|"
    )
  }
}

export type SemanticCacheStatus =
  | (EmbedderStatus & LabelledIndexStatus & {
    /** The fast first stage: off, warming up (its table is being built after start-up), or ready. */
    readonly fast_stage: string
  })
  | { readonly status: "disabled" | "unavailable"; readonly reason: string }

/** L1b: answers a question asked before in other words, within the same scope, from an HNSW index of embeddings. */
export class SemanticCache extends Context.Service<SemanticCache, {
  readonly lookup: (request: ChatRequest, threshold: number) => Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable>
  readonly store: (request: ChatRequest, completion: string) => Effect.Effect<void, LayerUnavailable>
  readonly status: Effect.Effect<SemanticCacheStatus>
}>()("isartor/SemanticCache") {
  static readonly layer = Layer.effect(
    SemanticCache,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const embedder = yield* Embedder
      const { digest } = yield* CacheKey
      // With cache_backend = redis: the entries every replica shares; this replica's index follows them.
      const shared = yield* Effect.serviceOption(SharedSemanticStore)
      // The first stage, when the encoder has a fast distillation: its own index under the same labels.
      const fastIndexOption = yield* Effect.serviceOption(FastVectorIndex)
      const fastIndex = fastIndexOption._tag === "Some" ? fastIndexOption.value : undefined
      const index = makeLabelledIndex({
        capacity: config.cache_max_capacity,
        maxBytes: config.cache_max_bytes,
        ttlMs: config.cache_ttl_secs * 1000,
        dimensions: embedder.dimensions,
        index: yield* VectorIndex,
        fastIndex
      })
      // Background work (the fast stage's catch-up) belongs to the cache's lifetime: it stops when the gateway does.
      const scope = yield* Effect.scope

      // The fast encoder becomes ready some seconds after start-up: entries cached before then join its index in
      // the background, a few hundred at a time, so no request waits on the catch-up.
      let fastCaughtUp = false
      const catchUpFast = Effect.suspend(() => {
        if (fastCaughtUp || !fastIndex || embedder.fast("") === undefined) return Effect.void
        fastCaughtUp = true
        const pending = index.snapshot()
        return Effect.forkIn(
          Effect.gen(function*() {
            for (let i = 0; i < pending.length; i += 200) {
              for (const [label, entry] of pending.slice(i, i + 200)) {
                index.addFastIfPresent(label, entry, embedder.fast(entry.text))
              }
              yield* Effect.yieldNow
            }
          }),
          scope
        ).pipe(Effect.asVoid)
      })
      const fromShared = (id: string, entry: Omit<SemanticEntry, "id"> & { readonly vector: Float32Array }) =>
        void index.insert({ id, scope: entry.scope, text: entry.text, completion: entry.completion }, entry.vector)
      if (shared._tag === "Some") {
        const loaded = yield* Effect.promise(() => shared.value.loadAll().catch(() => []))
        for (const [id, entry] of loaded) fromShared(id, entry)
        // Heard for as long as the cache lives: closing the gateway unsubscribes.
        yield* Effect.acquireRelease(
          Effect.sync(() => shared.value.onAdded(fromShared)),
          (unsubscribe) => Effect.sync(unsubscribe)
        )
      }
      /** Whether a local entry may still be served: with Redis, only while its key lives there (TTL, FLUSHDB). */
      const stillShared = (candidate: Candidate): Effect.Effect<boolean, LayerUnavailable> =>
        shared._tag === "None"
          ? Effect.succeed(true)
          : shared.value.exists(candidate.entry.id).pipe(
            Effect.tap((exists) => Effect.sync(() => exists || index.remove(candidate.label)))
          )
      // The vectors of a request looked up and missed, kept for the store that follows its upstream answer.
      const vectors = new WeakMap<ChatRequest, Float32Array>()
      const fastVectors = new WeakMap<ChatRequest, Float32Array>()

      return SemanticCache.of({
        lookup: (request, threshold) =>
          Effect.gen(function*() {
            const view = semanticView(request, digest)
            if (typeof view === "string") return yield* new LayerUnavailable({ layer: "l1b", reason: view })
            index.purgeExpired(Date.now())
            yield* catchUpFast
            // What the verifier reads in the question: worked out once, when a first candidate reaches the cut.
            let question: Analysis | undefined
            /** The first candidate at or above `cut` that the verifier accepts and Redis (if any) still holds. */
            const firstAccepted = (candidates: ReadonlyArray<Candidate>, cut: number) =>
              Effect.gen(function*() {
                for (const candidate of candidates) {
                  if (candidate.similarity < cut) break
                  question ??= analyse(view.text)
                  if (
                    verify(question, candidate.entry.text, candidate.similarity).accept &&
                    (yield* stillShared(candidate))
                  ) {
                    index.served(candidate.label)
                    return candidate
                  }
                }
                return undefined
              })
            // Stage 1, ≈ 0.2 ms: the static encoder finds close rephrasings at a stricter cut, with the same verifier.
            const fastVector = fastIndex && embedder.fast(view.text)
            if (fastVector) {
              fastVectors.set(request, fastVector)
              const cut = Math.max(threshold, config.semantic_fast_threshold)
              const found = yield* firstAccepted(index.searchFast(fastVector, CANDIDATES, view.scope), cut)
              if (found) {
                return { completion: found.entry.completion, similarity: found.similarity, stage: "fast" as const }
              }
            }
            // Stage 2: the full model.
            const vector = yield* embedder.embed(view.text)
            vectors.set(request, vector)
            const found = yield* firstAccepted(index.searchModel(vector, CANDIDATES, view.scope), threshold)
            if (found) {
              return { completion: found.entry.completion, similarity: found.similarity, stage: "model" as const }
            }
            return yield* new CacheMiss({ layer: "l1b" })
          }),
        store: (request, completion) =>
          Effect.gen(function*() {
            const view = semanticView(request, digest)
            if (typeof view === "string") return
            const vector = vectors.get(request) ?? (yield* embedder.embed(view.text))
            const entry = {
              id: digest({ scope: view.scope, text: view.text }),
              scope: view.scope,
              text: view.text,
              completion
            }
            const failure = index.insert(entry, vector, fastVectors.get(request))
            // Reported as a dropped write: counted, and warned about at most once per interval.
            if (failure !== undefined) {
              return yield* new LayerUnavailable({ layer: "l1b", reason: `the index refused the entry: ${failure}` })
            }
            if (shared._tag === "Some") yield* shared.value.put(entry.id, { ...entry, vector })
          }),
        status: Effect.sync(() => ({
          ...embedder.status(),
          ...index.status(),
          fast_stage: !fastIndex ? "off" : embedder.fast("") === undefined ? "warming up" : "ready"
        }))
      })
    })
  )

  /** L1b turned off (`cache_mode = exact`) or without a model: every lookup falls through, writes are dropped. */
  static readonly layerDisabled = (status: "disabled" | "unavailable", reason: string) =>
    Layer.succeed(
      SemanticCache,
      SemanticCache.of({
        lookup: () => Effect.fail(new LayerUnavailable({ layer: "l1b", reason })),
        store: () => Effect.void,
        status: Effect.succeed({ status, reason })
      })
    )
}
