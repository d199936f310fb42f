import { Clock, Context, Effect, Layer } from "effect"
import { LRUCache } from "lru-cache"
import { AppConfig } from "../../config/Config.ts"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import { Embedder, type EmbedderStatus } from "../../embedding/Embedder.ts"
import { CacheKey } from "../CacheKey.ts"
import { type ErrorBudget, makeErrorBudget } from "./decision/ErrorBudget.ts"
import { PairDecision } from "./decision/PairDecision.ts"
import { sameAnswer } from "./decision/sameAnswer.ts"
import { cosineDecision, learnedDecision, type SemanticDecision, type WouldBeHit } from "./decision/SemanticDecision.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { fastCatchUp, followShared } from "./followShared.ts"
import {
  type Candidate,
  type LabelledIndexStatus,
  makeLabelledIndex,
  type SemanticEntry,
  type SemanticMeta
} from "./LabelledIndex.ts"
import { semanticView } from "./semanticView.ts"
import { VectorIndex } from "./VectorIndex.ts"

export { CANDIDATES, COSINE_THRESHOLD } from "./decision/SemanticDecision.ts"
export { semanticView } from "./semanticView.ts"

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

/** Built once: a miss is the common outcome, and an error built per miss costs it a stack trace. */
const missedL1b = Effect.fail(new CacheMiss({ layer: "l1b" }))

/** The budget a request is held to: `l1b_error_budget`, or its header's when tighter; 1 turns the budget off. */
export const budgetOf = (config: AppConfigShape, request: ChatRequest): number =>
  Math.min(config.l1b_error_budget, request.l1bErrorBudget ?? 1)

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
    /** The false-hit budget of the decision: hits served and explored, the observed rate and its bound. */
    readonly budget: ReturnType<ErrorBudget["status"]> & { readonly decision: string }
  })
  | { readonly status: "disabled" | "unavailable"; readonly reason: string }

/** A would-be hit not served: the fresh answer to its request labels it when the request's answer is stored. */
interface Pending {
  readonly entry: string
  readonly completion: string
  readonly score: number
  readonly band: string
}

/**
 * The budget's side of a lookup: a would-be hit is served, explored (sent upstream, labelled by the fresh answer)
 * or withheld (labelled too: its request goes upstream anyway).
 */
const budgeted = (
  budget: ErrorBudget,
  pending: WeakMap<ChatRequest, Pending>,
  request: ChatRequest,
  found: WouldBeHit,
  limit: number,
  band: string
): boolean => {
  const verdict = budget.decide(found.candidate.entry.id, found.score, limit, band)
  if (verdict._tag === "Serve") return true
  // Without a budget nothing is learnt from a withheld hit.
  if (limit >= 1) return false
  pending.set(request, {
    entry: found.candidate.entry.id,
    completion: found.candidate.entry.completion,
    band,
    ...found
  })
  return false
}

/**
 * The band a would-be hit is counted in: its scope's (tenants never share counts), at its stage (the cosine
 * decision's fast stage scores with another encoder than its full model: the same cosine is not the same evidence).
 */
export const bandOf = (digest: (value: unknown) => string, scope: string, stage: WouldBeHit["stage"]) =>
  `${stage}:${digest(scope)}`

/** The parts of L1b a lookup and a store share. */
const makeParts = Effect.gen(function*() {
  const config = yield* AppConfig
  const embedder = yield* Embedder
  // The learned decision, when the fast encoder is the one it was trained on: then the fast vector is L1b's only
  // vector, and the model is never called on the request path.
  const scorer = yield* Effect.serviceOption(PairDecision)
  // The first stage of the cosine decision, when the encoder has a fast distillation: its own index.
  const fastIndexOption = yield* Effect.serviceOption(FastVectorIndex)
  const learned = scorer._tag === "Some" ? scorer.value : undefined
  const fastIndex = learned || fastIndexOption._tag === "None" ? undefined : fastIndexOption.value
  // The gateway's clock: what entries expire and age by, so that a test can move it.
  const clock = yield* Clock.Clock
  const now = () => clock.currentTimeMillisUnsafe()
  const index = makeLabelledIndex({
    capacity: config.cache_max_capacity,
    maxBytes: config.cache_max_bytes,
    ttlMs: config.cache_ttl_secs * 1000,
    dimensions: learned ? learned.model.dimensions : embedder.dimensions,
    index: yield* VectorIndex,
    fastIndex,
    fastDimensions: embedder.fastStage?.dimensions,
    now
  })
  const catchUpFast = yield* fastCatchUp(index, embedder, fastIndex !== undefined)
  const parts = { config, embedder, index, catchUpFast, hasFastIndex: fastIndex !== undefined }
  const decision: SemanticDecision = learned ? learnedDecision(learned, parts) : cosineDecision(parts)
  const encoder = learned ? learned.model.encoder : embedder.model
  const budget = makeErrorBudget(Math.random, config.cache_max_capacity + 1, (id) => index.byId(id) !== undefined)
  // Where each entry last answered another question (band and score): a caller's word that it answered wrong is
  // counted there. Bounded like the index.
  const lastServed = new LRUCache<string, { readonly band: string; readonly score: number }>({
    max: config.cache_max_capacity + 1
  })
  const setAside = { count: 0 }
  const shared = yield* followShared({ index, encoder, setAside, now, budget, decision: decision.id })
  return { ...parts, learned, fastIndex, now, decision, encoder, budget, lastServed, setAside, shared }
})

type Parts = Effect.Success<typeof makeParts>

/** Looking up: the decision's would-be hit, kept for this caller (age), then the budget, then Redis's word. */
const makeLookup = (
  parts: Parts,
  viewOf: ViewOf,
  digest: (value: unknown) => string,
  pending: WeakMap<ChatRequest, Pending>
) => {
  const { config, index, now, decision, budget, lastServed, shared } = parts
  /** Too old for this caller (or of unknown age): skipped for it, kept for others. */
  const youngEnough = (maxAgeMs: number | undefined) => (candidate: Candidate) => {
    if (maxAgeMs === undefined) return true
    const created = candidate.entry.meta?.created
    return created !== undefined && now() - created <= maxAgeMs
  }
  const serve = (found: WouldBeHit): SemanticHit => {
    index.served(found.candidate.label)
    const entry = found.candidate.entry
    const { similarity } = found.candidate
    const { learnedScore: score, stage } = found
    return { completion: entry.completion, id: entry.id, created: entry.meta?.created, similarity, score, stage }
  }
  return (request: ChatRequest, threshold: number | undefined, maxAgeMs?: number) =>
    Effect.suspend(() => {
      const view = viewOf(request)
      if (typeof view === "string") return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: view }))
      index.purgeExpired(now())
      return decision.find(request, view, threshold, youngEnough(maxAgeMs)).pipe(
        Effect.flatMap((found): Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable> => {
          if (found === undefined) return missedL1b
          const band = bandOf(digest, view.scope, found.stage)
          if (!budgeted(budget, pending, request, found, budgetOf(config, request), band)) return missedL1b
          return Effect.flatMap(shared.stillHeld(found.candidate), (held) => {
            if (!held) return missedL1b
            lastServed.set(found.candidate.entry.id, { band, score: found.score })
            return Effect.succeed(serve(found))
          })
        })
      )
    })
}

/** What L1b reads of a request (three digests), worked out once: the lookup, the entry's key and the store ask. */
const makeViews = (digest: (value: unknown) => string) => {
  const views = new WeakMap<ChatRequest, ReturnType<typeof semanticView>>()
  return (request: ChatRequest) => {
    let view = views.get(request)
    if (view === undefined) views.set(request, view = semanticView(request, digest))
    return view
  }
}
type ViewOf = ReturnType<typeof makeViews>

/** Storing an upstream answer: first the label it gives a would-be hit its request did not serve, then the entry. */
const makeStore = (
  parts: Parts,
  viewOf: ViewOf,
  digest: (value: unknown) => string,
  pending: WeakMap<ChatRequest, Pending>
) => {
  const { index, now, decision, budget, shared, encoder, learned } = parts
  return (request: ChatRequest, completion: string, meta?: SemanticMeta, ttlMs?: number) =>
    Effect.gen(function*() {
      const label = pending.get(request)
      if (label !== undefined) {
        pending.delete(request)
        budget.observe(label.entry, label.score, sameAnswer(completion, label.completion), label.band)
      }
      const view = viewOf(request)
      if (typeof view === "string") return
      const vector = yield* decision.vectorFor(request, view.text)
      const entry: SemanticEntry = {
        id: digest({ scope: view.scope, text: view.text }),
        ...view,
        completion,
        meta,
        encoder,
        ...(learned ? { decision: learned.model.version } : {})
      }
      // It expires when its metadata says, however long the insert waited behind the answer (a clock a test
      // moves may have moved meanwhile).
      const lifetimeMs = meta ? meta.expires - now() : ttlMs
      if (lifetimeMs !== undefined && lifetimeMs <= 0) return
      const failure = index.insert(entry, vector, decision.fastVectorOf(request), lifetimeMs)
      // Reported as a dropped write: counted, and warned about at most once per interval.
      if (failure !== undefined) {
        return yield* new LayerUnavailable({ layer: "l1b", reason: `the index refused the entry: ${failure}` })
      }
      decision.stored(request, entry)
      budget.stored(entry.id)
      yield* shared.put(entry, vector, lifetimeMs)
    })
}

/** What /health shows of L1b. */
const statusOf = (parts: Parts, reported: { wrong: number; correct: number }): SemanticCacheStatus => {
  const { config, embedder, index, decision, budget, fastIndex, learned } = parts
  const held = budget.status(config.l1b_error_budget)
  return {
    ...embedder.status(),
    ...index.status(),
    encoder: parts.encoder,
    decision: `${decision.describe(config)}, false-hit budget ${config.l1b_error_budget}`,
    set_aside: parts.setAside.count,
    reported_wrong: reported.wrong,
    reported_correct: reported.correct,
    entries_stopped_serving: held.entries_stopped_serving,
    budget: { decision: decision.id, ...held },
    fast_stage: learned ? "ready" : !fastIndex ? "off" : embedder.fast("") === undefined ? "warming up" : "ready"
  }
}

/** L1b: answers a question asked before in other words, within the same scope, from an HNSW index of embeddings. */
export class SemanticCache extends Context.Service<SemanticCache, {
  /**
   * `threshold`: the cosine below which nothing is served (`similarity_threshold`, or the request's header);
   * `undefined`, the decision's own floor. With `maxAgeMs` (`Cache-Control: max-age`), only entries at most that
   * old answer. The false-hit budget (`l1b_error_budget`, or the request's, tighter) decides a would-be hit.
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
   * L1a's), on every replica when shared; whether the entry is there.
   */
  readonly feedback: (id: string, correct: boolean) => boolean
  readonly list: () => ReadonlyArray<SemanticEntry>
  readonly hits: (id: string) => number
  readonly status: Effect.Effect<SemanticCacheStatus>
}>()("isartor/SemanticCache") {
  static readonly layer = Layer.effect(
    SemanticCache,
    Effect.gen(function*() {
      const { digest } = yield* CacheKey
      const parts = yield* makeParts
      const { index, budget, lastServed, shared } = parts
      const viewOf = makeViews(digest)
      // Would-be hits not served, waiting for their request's fresh answer.
      const pending = new WeakMap<ChatRequest, Pending>()
      const reported = { wrong: 0, correct: 0 }
      /** A caller's word that an entry answered wrong: a wrong hit where it last answered, and it stops answering. */
      const reportWrong = (id: string) => {
        reported.wrong++
        const served = lastServed.get(id)
        if (served !== undefined) budget.observe(id, served.score, false, served.band)
        budget.stop(id)
      }
      return SemanticCache.of({
        lookup: makeLookup(parts, viewOf, digest, pending),
        store: makeStore(parts, viewOf, digest, pending),
        entryKey: (request) => {
          const view = viewOf(request)
          return typeof view === "string" ? undefined : digest({ scope: view.scope, text: view.text })
        },
        entry: (id) => index.byId(id),
        feedback: (id, correct) => {
          if (index.byId(id) === undefined) return false
          if (correct) reported.correct++
          else reportWrong(id)
          return true
        },
        remove: (id) =>
          Effect.suspend(() => {
            // Removing an entry that answered others is a caller's verdict on those answers: the same question
            // stored again does not answer others either.
            if (index.byId(id) !== undefined && index.hits(id) > 0) reportWrong(id)
            else budget.forget(id, true)
            const local = index.removeById(id)
            return Effect.map(shared.remove(id), (elsewhere) => local || elsewhere)
          }),
        list: () => index.snapshot().map(([, entry]) => entry),
        hits: (id) => index.hits(id),
        status: Effect.sync(() => statusOf(parts, reported))
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
