import { Clock, Effect } from "effect"
import { LRUCache } from "lru-cache"
import { AppConfig } from "../../config/Config.ts"
import { Embedder, type EmbedderStatus } from "../../embedding/Embedder.ts"
import { type ErrorBudget, makeErrorBudget } from "./decision/ErrorBudget.ts"
import { PairDecision } from "./decision/PairDecision.ts"
import { cosineDecision, learnedDecision, type SemanticDecision } from "./decision/SemanticDecision.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { fastCatchUp, followShared } from "./followShared.ts"
import { type LabelledIndexStatus, makeLabelledIndex } from "./LabelledIndex.ts"
import { VectorIndex } from "./VectorIndex.ts"

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

/** The parts of L1b a lookup and a store share. */
export const makeParts = Effect.gen(function*() {
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

export type Parts = Effect.Success<typeof makeParts>

/** What /health shows of L1b. */
export const statusOf = (parts: Parts, reported: { wrong: number; correct: number }): SemanticCacheStatus => {
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
