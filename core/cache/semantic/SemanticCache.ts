import { Clock, Context, Effect, Layer } from "effect"
import { LRUCache } from "lru-cache"
import { AppConfig } from "../../config/Config.ts"
import { answerHeadersOfRequest, type ChatRequest } from "../../domain/ChatRequest.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import { plainTextOf, usesTools } from "../../domain/messages.ts"
import { Embedder, type EmbedderStatus } from "../../embedding/Embedder.ts"
import { CacheKey, withoutDelivery } from "../CacheKey.ts"
import { PairDecision } from "./decision/PairDecision.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import {
  type Candidate,
  type LabelledIndex,
  type LabelledIndexStatus,
  makeLabelledIndex,
  type SemanticEntry,
  type SemanticMeta
} from "./LabelledIndex.ts"
import { SharedSemanticStore } from "./RedisSemanticStore.ts"
import { analyse, type Analysis, MAX_VERIFIED_CHARS, numbersDifferFrom, verify } from "./SemanticVerifier.ts"
import { VectorIndex } from "./VectorIndex.ts"

export interface SemanticHit {
  readonly completion: string
  /** The entry that answered, and when it was stored (absent for entries older than the metadata). */
  readonly id: string
  readonly created?: number | undefined
  readonly similarity: number
  /** The learned decision's score for the pair (question, cached question), when a decision model decided. */
  readonly score?: number | undefined
  /** Which stage found it: the fast static encoder, or the full model. */
  readonly stage: "fast" | "model"
}

/**
 * How many nearest neighbours are checked against the threshold and the verifier. Not 4: a cache of questions that
 * differ only in a number ("feature 7" / "feature 17") crowds the top few with near-identical vectors the verifier
 * must reject, and the right entry can sit below them.
 */
export const CANDIDATES = 16

/** The cosine decision's floor when `similarity_threshold` is not set: what it always was. */
export const COSINE_THRESHOLD = 0.85

/** An effort that asks for no reasoning at all, in OpenAI's and Anthropic's words. */
const NO_REASONING = new Set(["none", "disabled"])

const asks = (value: unknown) =>
  value !== undefined && value !== null && value !== false && !(typeof value === "string" && NO_REASONING.has(value))

/**
 * Whether a request asks the model to think: OpenAI's `reasoning_effort` (Anthropic's `thinking` and the Responses
 * API's `reasoning.effort` become it), and the client's own `thinking`, `reasoning` or Gemini `thinkingConfig`
 * when it came in that form. Its answer carries thinking — signed, for Anthropic and Gemini — written for that
 * prompt; served for a paraphrase, the thinking would be replayed for a question it was not about.
 */
const thinks = (request: ChatRequest): boolean => {
  if (asks(request.body.reasoning_effort)) return true
  const source = request.source?.body
  if (source === undefined) return false
  const thinking = source.thinking as { readonly type?: unknown } | undefined
  if (thinking !== undefined && thinking !== null && asks(thinking.type ?? true)) return true
  const reasoning = source.reasoning as { readonly effort?: unknown } | undefined
  if (reasoning !== undefined && reasoning !== null && asks(reasoning.effort ?? true)) return true
  const generation = source.generationConfig as { readonly thinkingConfig?: { readonly thinkingBudget?: unknown } }
  const gemini = generation?.thinkingConfig
  return gemini !== undefined && gemini !== null && gemini.thinkingBudget !== 0
}

/**
 * What L1b needs of a request: the last user message (what is embedded) and the scope that must match exactly
 * before similarity is considered — tenant, endpoint family, model, system prompt, earlier turns, every other
 * generation parameter and the headers that change an answer (`ANSWER_HEADERS`). A request with tools or thinking, or whose last message is not plain user text, is not eligible.
 */
export const semanticView = (
  request: ChatRequest,
  digest: (value: unknown) => string
): { text: string; scope: string } | string => {
  const { messages, tools: _tools, functions: _functions, ...parameters } = withoutDelivery(request.body)
  if (usesTools(request.body)) return "requests with tools use the exact cache only"
  if (thinks(request)) return "requests with thinking use the exact cache only"
  const last = request.messages[request.messages.length - 1]
  if (last?.role !== "user") return "the last message is not from the user"
  const text = plainTextOf(last.content)
  if (text === undefined || text.trim() === "") return "the last message is not plain text"
  // The verifier accepts nothing longer, so such a question is neither embedded nor stored: L1a alone serves it.
  if (text.length > MAX_VERIFIED_CHARS) return `the last message is longer than ${MAX_VERIFIED_CHARS} characters`
  const system = request.messages.filter((m) => m.role === "system" || m.role === "developer")
  const earlier = request.messages.slice(0, -1).filter((m) => m.role !== "system" && m.role !== "developer")
  const scope = [request.tenant, request.family, request.model, digest(system), digest(earlier), digest(parameters)]
  // The headers that change an answer, as in the exact key; none sent, the scope is what it always was.
  const headers = answerHeadersOfRequest(request)
  if (headers !== undefined) scope.push(digest(headers))
  return { text, scope: scope.join("|") }
}

/** Built once: a miss is the common outcome, and an error built per miss costs it a stack trace. */
const missedL1b = Effect.fail(new CacheMiss({ layer: "l1b" }))

/** A value worked out on first use only. */
const lazily = <A>(make: () => A) => {
  let value: A | undefined
  return () => (value ??= make())
}

/** The first candidate at or above `cut` that the verifier accepts and that may still be served. */
const firstVerified = (
  candidates: ReadonlyArray<Candidate>,
  cut: number,
  question: () => Analysis,
  stillHeld: (candidate: Candidate) => Effect.Effect<boolean, LayerUnavailable>
) =>
  Effect.gen(function*() {
    for (const candidate of candidates) {
      if (candidate.similarity < cut) break
      if (verify(question(), candidate.entry.text, candidate.similarity).accept && (yield* stillHeld(candidate))) {
        return candidate
      }
    }
    return undefined
  })

/**
 * The fast encoder becomes ready some seconds after start-up: entries cached before then join its index in the
 * background, once, a few hundred at a time, so no request waits on the catch-up. The work belongs to the cache's
 * scope: it stops when the gateway does.
 */
const fastCatchUp = (index: LabelledIndex, embedder: Embedder["Service"], hasFastStage: boolean) =>
  Effect.map(Effect.scope, (scope) => {
    let started = false
    return Effect.suspend(() => {
      if (started || !hasFastStage || embedder.fast("") === undefined) return Effect.void
      started = true
      const pending = index.snapshot()
      const addAll = Effect.gen(function*() {
        for (let i = 0; i < pending.length; i += 200) {
          for (const [label, entry] of pending.slice(i, i + 200)) {
            index.addFastIfPresent(label, entry, embedder.fast(entry.text))
          }
          yield* Effect.yieldNow
        }
      })
      return Effect.asVoid(Effect.forkIn(addAll, scope))
    })
  })

/**
 * With cache_backend = redis, the entries every replica shares: this replica's index loads them at start and
 * follows the announced ones for the cache's lifetime (closing the gateway unsubscribes); a local entry is served
 * only while its key lives in Redis (TTL, FLUSHDB), and a stored one is shared. Without Redis, nothing to follow.
 */
const followShared = (index: LabelledIndex, encoder: string, setAside: { count: number }, now: () => number) =>
  Effect.gen(function*() {
    const option = yield* Effect.serviceOption(SharedSemanticStore)
    if (option._tag === "None") {
      return {
        stillHeld: (_: Candidate): Effect.Effect<boolean, LayerUnavailable> => Effect.succeed(true),
        put: (_entry: SemanticEntry, _vector: Float32Array, _ttlMs?: number): Effect.Effect<void, LayerUnavailable> =>
          Effect.void,
        remove: (_id: string): Effect.Effect<boolean, LayerUnavailable> => Effect.succeed(false)
      }
    }
    const shared = option.value
    const fromShared = (id: string, entry: Omit<SemanticEntry, "id"> & { readonly vector: Float32Array }) => {
      // Another encoder's vector (a replica on another release or setting, an entry from before encoders were
      // recorded) means nothing next to this one's, even at the same length: never compared.
      if (entry.encoder !== encoder) {
        setAside.count++
        return
      }
      const remaining = entry.meta ? entry.meta.expires - now() : undefined
      if (remaining !== undefined && remaining <= 0) return
      const { vector, ...fields } = entry
      void index.insert({ id, ...fields }, vector, undefined, remaining)
    }
    for (const [id, entry] of yield* Effect.promise(() => shared.loadAll().catch(() => []))) fromShared(id, entry)
    if (setAside.count > 0) {
      yield* Effect.logWarning(
        `l1b: encoder ${encoder}: ${setAside.count} shared entries stored with another encoder were set aside (never compared; they expire with their TTL)`
      )
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => shared.onAdded(fromShared)),
      (unsubscribe) => Effect.sync(unsubscribe)
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => shared.onRemoved((id) => void index.removeById(id))),
      (unsubscribe) => Effect.sync(unsubscribe)
    )
    return {
      stillHeld: (candidate: Candidate): Effect.Effect<boolean, LayerUnavailable> =>
        shared.exists(candidate.entry.id).pipe(
          Effect.tap((exists) => Effect.sync(() => exists || index.remove(candidate.label)))
        ),
      put: (entry: SemanticEntry, vector: Float32Array, ttlMs?: number) =>
        shared.put(entry.id, { ...entry, vector }, ttlMs),
      remove: (id: string) => shared.remove(id)
    }
  })

export type SemanticCacheStatus =
  | (EmbedderStatus & LabelledIndexStatus & {
    /** The fast first stage: off or ready. */
    readonly fast_stage: string
    /** The encoder (id/version) entries are stored and compared with. */
    readonly encoder: string
    /** How a hit is decided: the learned decision (its version, its threshold) or cosine and the verifier. */
    readonly decision: string
    /** Shared entries of another encoder this replica saw and never compared (since start). */
    readonly set_aside: number
    /** L1b answers callers reported wrong (feedback, or a DELETE of an entry that had answered) and right. */
    readonly reported_wrong: number
    readonly reported_correct: number
    /** Entries that stopped answering other questions after a reported wrong answer. */
    readonly entries_stopped_serving: number
  })
  | { readonly status: "disabled" | "unavailable"; readonly reason: string }

/**
 * The best cosine on the `l1b.lookup` span: `cosine_similarity`, the name the operators' guide searches traces for,
 * and `isartor.l1b.cosine_similarity`, docs/monitoring.md's.
 */
const similarityAttributes = (similarity: number) => ({
  "cosine_similarity": similarity,
  "isartor.l1b.cosine_similarity": similarity
})

/**
 * What the `l1b.lookup` span shows about a stage: the best cosine seen, how many candidates reached the cut, and the
 * verifier's verdict — what an operator tuning `similarity_threshold` looks for.
 */
const annotateStage = (
  stage: SemanticHit["stage"],
  candidates: ReadonlyArray<Candidate>,
  cut: number,
  found: Candidate | undefined
) =>
  Effect.annotateCurrentSpan({
    "isartor.l1b.stage": stage,
    ...similarityAttributes(found?.similarity ?? candidates[0]?.similarity ?? 0),
    "isartor.l1b.candidates_checked": candidates.filter((candidate) => candidate.similarity >= cut).length,
    "isartor.l1b.verdict": found ? "accepted" : candidates.some((candidate) => candidate.similarity >= cut)
      ? "rejected by the verifier"
      : "no candidate above the threshold"
  })

/** L1b: answers a question asked before in other words, within the same scope, from an HNSW index of embeddings. */
export class SemanticCache extends Context.Service<SemanticCache, {
  /** With `maxAgeMs` (`Cache-Control: max-age`), only entries at most that old answer. */
  /**
   * `threshold`: the cosine below which nothing is served (`similarity_threshold`, or the request's header);
   * `undefined`, the decision's own floor.
   */
  readonly lookup: (
    request: ChatRequest,
    threshold: number | undefined,
    maxAgeMs?: number
  ) => Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable>
  /** Stores an answer with what is known of it, for `ttlMs` or the configured TTL. */
  readonly store: (
    request: ChatRequest,
    completion: string,
    meta?: SemanticMeta,
    ttlMs?: number
  ) => Effect.Effect<void, LayerUnavailable>
  /** The id the entry for this request has (or would have); `undefined` when L1b does not take it. */
  readonly entryKey: (request: ChatRequest) => string | undefined
  /** The entry with this id in this replica's index (which mirrors Redis when shared). */
  readonly entry: (id: string) => SemanticEntry | undefined
  /** Removes an entry and its vectors, on every replica when shared; whether it was there. */
  readonly remove: (id: string) => Effect.Effect<boolean, LayerUnavailable>
  /**
   * A caller's word on an answer this entry gave: wrong, it stops answering other questions (its own question is
   * L1a's); whether the entry is there.
   */
  readonly feedback: (id: string, correct: boolean) => boolean
  readonly list: () => ReadonlyArray<SemanticEntry>
  readonly hits: (id: string) => number
  readonly status: Effect.Effect<SemanticCacheStatus>
}>()("isartor/SemanticCache") {
  static readonly layer = Layer.effect(
    SemanticCache,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const embedder = yield* Embedder
      const { digest } = yield* CacheKey
      // The learned decision, when the fast encoder is the one it was trained on: then the fast vector is L1b's only
      // vector, and the model is never called on the request path.
      const decisionOption = yield* Effect.serviceOption(PairDecision)
      const decision = decisionOption._tag === "Some" ? decisionOption.value : undefined
      // The first stage of the cosine decision, when the encoder has a fast distillation: its own index.
      const fastIndexOption = yield* Effect.serviceOption(FastVectorIndex)
      const fastIndex = decision || fastIndexOption._tag === "None" ? undefined : fastIndexOption.value
      const encoder = decision ? decision.model.encoder : embedder.model
      // The gateway's clock: what entries expire and age by, so that a test can move it.
      const clock = yield* Clock.Clock
      const now = () => clock.currentTimeMillisUnsafe()
      const index = makeLabelledIndex({
        capacity: config.cache_max_capacity,
        maxBytes: config.cache_max_bytes,
        ttlMs: config.cache_ttl_secs * 1000,
        dimensions: decision ? decision.model.dimensions : embedder.dimensions,
        index: yield* VectorIndex,
        fastIndex,
        fastDimensions: embedder.fastStage?.dimensions,
        now
      })
      const catchUpFast = yield* fastCatchUp(index, embedder, fastIndex !== undefined)
      const setAside = { count: 0 }
      const followed = yield* followShared(index, encoder, setAside, now)
      // Entries reported wrong: never served again (fewer hits, never a known-wrong one twice). Bounded like the
      // index: an id evicted from it leaves this set in turn.
      const stopped = new LRUCache<string, true>({ max: config.cache_max_capacity + 1 })
      const reported = { wrong: 0, correct: 0 }
      const notServed = Effect.succeed(false)
      const shared = {
        ...followed,
        stillHeld: (candidate: Candidate) => stopped.has(candidate.entry.id) ? notServed : followed.stillHeld(candidate)
      }
      // What L1b reads of a request (three digests), worked out once: the lookup, the entry's key and the store ask.
      const views = new WeakMap<ChatRequest, ReturnType<typeof semanticView>>()
      const viewOf = (request: ChatRequest) => {
        let view = views.get(request)
        if (view === undefined) views.set(request, view = semanticView(request, digest))
        return view
      }
      // The vectors of a request looked up and missed, kept for the store that follows its upstream answer.
      const vectors = new WeakMap<ChatRequest, Float32Array>()
      const fastVectors = new WeakMap<ChatRequest, Float32Array>()
      // What the scorer reads in the entries compared lately: a question's neighbours are compared again and again.
      const analyses = new LRUCache<SemanticEntry, Analysis>({ max: 4096 })
      // What the learned decision's lookup read of a request's question, for the entry the request then stores.
      const questionAnalyses = new WeakMap<ChatRequest, Analysis>()
      const analysisOf = (entry: SemanticEntry) => {
        let known = analyses.get(entry)
        if (!known) analyses.set(entry, known = analyse(entry.text))
        return known
      }
      const hit = (found: Candidate, stage: SemanticHit["stage"], score?: number): SemanticHit => {
        index.served(found.label)
        return {
          completion: found.entry.completion,
          id: found.entry.id,
          created: found.entry.meta?.created,
          similarity: found.similarity,
          score,
          stage
        }
      }
      /** Too old for this caller (or of unknown age): skipped for it, kept for others. */
      const youngEnough = (maxAgeMs: number | undefined) => (candidate: Candidate) => {
        if (maxAgeMs === undefined) return true
        const created = candidate.entry.meta?.created
        return created !== undefined && now() - created <= maxAgeMs
      }

      const noFastVector = Effect.fail(
        new LayerUnavailable({ layer: "l1b", reason: "the fast encoder gave no vector" })
      )
      /** The learned decision's only vector: the fast encoder's (which never fails, but may have none). */
      const fastVector = (text: string): Effect.Effect<Float32Array, LayerUnavailable> => {
        const vector = embedder.fast(text)
        return vector ? Effect.succeed(vector) : noFastVector
      }

      /**
       * The learned decision: the fast vector (≈ 0.1 ms) finds the nearest entries in scope; each one at or above
       * the cosine floor is scored by the pair scorer (≈ 40 µs), and the best score at or above the threshold
       * answers. `similarity_threshold` (or the request's header) raises the floor, never lowers it.
       */
      const lookupLearned = (
        scorer: NonNullable<typeof decision>,
        request: ChatRequest,
        view: { readonly text: string; readonly scope: string },
        threshold: number | undefined,
        maxAgeMs: number | undefined
      ): Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable> => {
        // Worked out without a fiber: a miss (most lookups) is decided here, and only a hit shared through Redis
        // asks Redis whether its entry still lives there.
        const vector = embedder.fast(view.text)
        if (!vector) return noFastVector
        vectors.set(request, vector)
        const floor = Math.max(scorer.model.cosineFloor, threshold ?? 0)
        const candidates = index.searchModel(vector, CANDIDATES, view.scope).filter(youngEnough(maxAgeMs))
        const question = lazily(() => {
          const analysis = analyse(view.text)
          questionAnalyses.set(request, analysis)
          return analysis
        })
        const accepted: Array<{ readonly candidate: Candidate; readonly score: number }> = []
        let best = 0
        let checked = 0
        for (const candidate of candidates) {
          if (candidate.similarity < floor) break
          checked++
          // Refused whatever it scores (./decision/features.ts): told before the candidate's full reading.
          if (numbersDifferFrom(question(), candidate.entry.text)) continue
          const score = scorer.score({
            cosine: candidate.similarity,
            question: vector,
            questionText: question(),
            cached: () => index.vectorOf(candidate.label),
            cachedText: analysisOf(candidate.entry)
          })
          best = Math.max(best, score)
          // A refused pair scores 0: never served, even at a threshold of 0.
          if (score > 0 && score >= config.l1b_score_threshold) accepted.push({ candidate, score })
        }
        accepted.sort((a, b) => b.score - a.score)
        const annotate = (found: { readonly candidate: Candidate; readonly score: number } | undefined) =>
          Effect.annotateCurrentSpan({
            "isartor.l1b.stage": "fast",
            ...similarityAttributes(found?.candidate.similarity ?? candidates[0]?.similarity ?? 0),
            "isartor.l1b.score": found?.score ?? best,
            "isartor.l1b.candidates_checked": checked,
            "isartor.l1b.verdict": found
              ? "accepted"
              : checked > 0
              ? "rejected by the learned decision"
              : "no candidate above the cosine floor"
          })
        if (accepted.length === 0) return Effect.andThen(annotate(undefined), missedL1b)
        return Effect.gen(function*() {
          for (const option of accepted) {
            if (yield* shared.stillHeld(option.candidate)) {
              yield* annotate(option)
              return hit(option.candidate, "fast", option.score)
            }
          }
          yield* annotate(undefined)
          return yield* missedL1b
        })
      }

      /** The cosine decision: the fast stage at a stricter cut, then the full model, each with the verifier. */
      const lookupCosine = (
        request: ChatRequest,
        view: { readonly text: string; readonly scope: string },
        threshold: number,
        maxAgeMs: number | undefined
      ) =>
        Effect.gen(function*() {
          yield* catchUpFast
          // What the verifier reads in the question: worked out once, when a first candidate reaches the cut.
          const question = lazily(() => analyse(view.text))
          // Stage 1, ≈ 0.2 ms: the static encoder finds close rephrasings at a stricter cut, with the same verifier.
          const stageVector = fastIndex && embedder.fast(view.text)
          if (stageVector) {
            fastVectors.set(request, stageVector)
            const cut = Math.max(threshold, config.semantic_fast_threshold)
            const candidates = index.searchFast(stageVector, CANDIDATES, view.scope).filter(youngEnough(maxAgeMs))
            const found = yield* firstVerified(candidates, cut, question, shared.stillHeld)
            yield* annotateStage("fast", candidates, cut, found)
            if (found) return hit(found, "fast")
          }
          // Stage 2: the full model.
          const vector = yield* embedder.embed(view.text)
          vectors.set(request, vector)
          const candidates = index.searchModel(vector, CANDIDATES, view.scope).filter(youngEnough(maxAgeMs))
          const found = yield* firstVerified(candidates, threshold, question, shared.stillHeld)
          yield* annotateStage("model", candidates, threshold, found)
          if (found) return hit(found, "model")
          return yield* missedL1b
        })

      /** The vector an entry is stored with: the lookup's, else computed now. */
      const vectorFor = (request: ChatRequest, text: string) => {
        const known = vectors.get(request)
        if (known) return Effect.succeed(known)
        return decision ? fastVector(text) : embedder.embed(text)
      }

      return SemanticCache.of({
        lookup: (request, threshold, maxAgeMs) =>
          Effect.suspend(() => {
            const view = viewOf(request)
            if (typeof view === "string") return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: view }))
            index.purgeExpired(now())
            return decision
              ? lookupLearned(decision, request, view, threshold, maxAgeMs)
              : lookupCosine(request, view, threshold ?? COSINE_THRESHOLD, maxAgeMs)
          }),
        store: (request, completion, meta, ttlMs) =>
          Effect.gen(function*() {
            const view = viewOf(request)
            if (typeof view === "string") return
            const vector = yield* vectorFor(request, view.text)
            const entry: SemanticEntry = {
              id: digest({ scope: view.scope, text: view.text }),
              ...view,
              completion,
              meta,
              encoder,
              ...(decision ? { decision: decision.model.version } : {})
            }
            // It expires when its metadata says, however long the insert waited behind the answer (a clock a test
            // moves may have moved meanwhile).
            const lifetimeMs = meta ? meta.expires - now() : ttlMs
            if (lifetimeMs !== undefined && lifetimeMs <= 0) return
            const failure = index.insert(entry, vector, fastVectors.get(request), lifetimeMs)
            // The lookup read the question already: the entry's neighbours will compare against the same reading.
            const analysis = questionAnalyses.get(request)
            if (failure === undefined && analysis) analyses.set(entry, analysis)
            // Reported as a dropped write: counted, and warned about at most once per interval.
            if (failure !== undefined) {
              return yield* new LayerUnavailable({ layer: "l1b", reason: `the index refused the entry: ${failure}` })
            }
            yield* shared.put(entry, vector, lifetimeMs)
          }),
        entryKey: (request) => {
          const view = viewOf(request)
          return typeof view === "string" ? undefined : digest({ scope: view.scope, text: view.text })
        },
        entry: (id) => index.byId(id),
        feedback: (id, correct) => {
          if (index.byId(id) === undefined) return false
          if (correct) reported.correct++
          else {
            reported.wrong++
            stopped.set(id, true)
          }
          return true
        },
        remove: (id) =>
          Effect.suspend(() => {
            // Removing an entry that answered others is a caller's verdict on those answers.
            if (index.byId(id) !== undefined && index.hits(id) > 0) reported.wrong++
            stopped.delete(id)
            const local = index.removeById(id)
            return Effect.map(shared.remove(id), (elsewhere) => local || elsewhere)
          }),
        list: () => index.snapshot().map(([, entry]) => entry),
        hits: (id) => index.hits(id),
        status: Effect.sync(() => ({
          ...embedder.status(),
          ...index.status(),
          encoder,
          decision: decision
            ? `learned ${decision.model.version} (score threshold ${config.l1b_score_threshold}, cosine floor ${
              Math.max(decision.model.cosineFloor, config.similarity_threshold ?? 0)
            })`
            : `cosine (threshold ${config.similarity_threshold ?? COSINE_THRESHOLD}, verifier)`,
          set_aside: setAside.count,
          reported_wrong: reported.wrong,
          reported_correct: reported.correct,
          entries_stopped_serving: stopped.size,
          fast_stage: decision
            ? "ready"
            : !fastIndex
            ? "off"
            : embedder.fast("") === undefined
            ? "warming up"
            : "ready"
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
        entryKey: () => undefined,
        entry: () => undefined,
        remove: () => Effect.succeed(false),
        feedback: () => false,
        list: () => [],
        hits: () => 0,
        status: Effect.succeed({ status, reason })
      })
    )
}
