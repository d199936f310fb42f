import { Effect } from "effect"
import { LRUCache } from "lru-cache"
import type { AppConfigShape } from "../../../config/ConfigSpec.ts"
import type { ChatRequest } from "../../../domain/ChatRequest.ts"
import { LayerUnavailable } from "../../../domain/errors.ts"
import type { Embedder } from "../../../embedding/Embedder.ts"
import type { Candidate, LabelledIndex, SemanticEntry } from "../LabelledIndex.ts"
import { analyse, type Analysis, numbersDifferFrom, verify } from "../SemanticVerifier.ts"
import { cosineKey, learnedKey } from "./budgetKey.ts"
import type { PairScorer } from "./PairScorer.ts"
import { scoreThresholdOf } from "./scoreThreshold.ts"

/**
 * How many nearest neighbours are checked against the threshold and the verifier. Not 4: a cache of questions that
 * differ only in a number ("feature 7" / "feature 17") crowds the top few with near-identical vectors the verifier
 * must reject, and the right entry can sit below them.
 */
export const CANDIDATES = 16

/** The cosine decision's floor when `similarity_threshold` is not set: what it always was. */
export const COSINE_THRESHOLD = 0.85

/** The candidate a decision would serve, with what the budget bands it by (./budgetKey.ts) and the stage. */
export interface WouldBeHit {
  readonly candidate: Candidate
  /** The budget's key: the decision's score blended with its margin over the runner-up, in 0–1. */
  readonly score: number
  readonly stage: "fast" | "model"
  /** The learned score, when the learned decision found it. */
  readonly learnedScore?: number | undefined
}

/**
 * What the lookup makes of a stage's would-be hit (the budget's verdict): a result ends the lookup there;
 * `undefined`, refused, lets the next stage look.
 */
export type Judge<A> = (found: WouldBeHit) => A | undefined

/** What L1b reads of a request: the text embedded and the scope that must match exactly. */
export interface SemanticView {
  readonly text: string
  readonly scope: string
}

/**
 * A decision: which cached entry, if any, would answer a question (the error budget then says whether it does).
 * The learned decision and the cosine decision are its two implementations, chosen once at wiring time.
 */
export interface SemanticDecision {
  /** Names the decision's observations (its scores mean nothing to another decision). */
  readonly id: string
  readonly describe: (config: AppConfigShape) => string
  readonly find: <A>(
    request: ChatRequest,
    view: SemanticView,
    threshold: number | undefined,
    keep: (candidate: Candidate) => boolean,
    judge: Judge<A>
  ) => Effect.Effect<A | undefined, LayerUnavailable>
  /** The vector an entry is stored with: the lookup's, else computed now; and the fast stage's, if any. */
  readonly vectorFor: (request: ChatRequest, text: string) => Effect.Effect<Float32Array, LayerUnavailable>
  readonly fastVectorOf: (request: ChatRequest) => Float32Array | undefined
  /** The request's entry was stored: what was read of its question serves its neighbours' comparisons. */
  readonly stored: (request: ChatRequest, entry: SemanticEntry) => void
}

/** What both decisions are built from. */
export interface DecisionParts {
  readonly config: AppConfigShape
  readonly embedder: Embedder["Service"]
  readonly index: LabelledIndex
  /** Starts the fast stage's catch-up once its encoder is ready (the cosine decision's first stage). */
  readonly catchUpFast: Effect.Effect<void>
  readonly hasFastIndex: boolean
}

const noFastVector = Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "the fast encoder gave no vector" }))

/**
 * The best cosine on the `l1b.lookup` span: `cosine_similarity`, the name the operators' guide searches traces for,
 * and `isartor.l1b.cosine_similarity`, docs/monitoring.md's.
 */
const similarityAttributes = (similarity: number) => ({
  "cosine_similarity": similarity,
  "isartor.l1b.cosine_similarity": similarity
})

/** A value worked out on first use only. */
const lazily = <A>(make: () => A) => {
  let value: A | undefined
  return () => (value ??= make())
}

/**
 * The learned decision's best candidate that may answer (at or above the floor, kept by the caller) and the best
 * score of the others (a refused pair is left out). Every candidate at or above the model's own floor is a rival,
 * whatever the caller's floor or age limit: narrowing what may answer must never widen a margin (it would add hits).
 */
const scoreCandidates = (
  scorer: PairScorer,
  candidates: ReadonlyArray<Candidate>,
  may: { readonly floor: number; readonly keep: (candidate: Candidate) => boolean },
  vector: Float32Array,
  question: () => Analysis,
  parts: { readonly index: LabelledIndex; readonly analysisOf: (entry: SemanticEntry) => Analysis }
) => {
  let best: { readonly candidate: Candidate; readonly score: number } | undefined
  let runnerUp = 0
  let checked = 0
  for (const candidate of candidates) {
    if (candidate.similarity < scorer.model.cosineFloor) break
    const answers = candidate.similarity >= may.floor && may.keep(candidate)
    if (answers) checked++
    // Refused whatever it scores (./features.ts): told before the candidate's full reading.
    if (numbersDifferFrom(question(), candidate.entry.text)) continue
    const score = scorer.score({
      cosine: candidate.similarity,
      question: vector,
      questionText: question(),
      cached: () => parts.index.vectorOf(candidate.label),
      cachedText: parts.analysisOf(candidate.entry)
    })
    if (answers && (best === undefined || score > best.score)) {
      if (best !== undefined) runnerUp = Math.max(runnerUp, best.score)
      best = { candidate, score }
    } else runnerUp = Math.max(runnerUp, score)
  }
  return { best, runnerUp, checked }
}

/** What the `l1b.lookup` span shows about the learned decision's look at a question's candidates. */
const annotateLearned = (
  scored: ReturnType<typeof scoreCandidates>,
  found: ReturnType<typeof scoreCandidates>["best"],
  candidates: ReadonlyArray<Candidate>
) =>
  Effect.annotateCurrentSpan({
    "isartor.l1b.stage": "fast",
    ...similarityAttributes(found?.candidate.similarity ?? candidates[0]?.similarity ?? 0),
    "isartor.l1b.score": scored.best?.score ?? 0,
    "isartor.l1b.runner_up_score": scored.runnerUp,
    "isartor.l1b.candidates_checked": scored.checked,
    "isartor.l1b.verdict": found
      ? "accepted"
      : scored.checked > 0
      ? "rejected by the learned decision"
      : "no candidate above the cosine floor"
  })

/**
 * The learned decision: the fast vector finds the nearest entries in scope; each one at or above the cosine floor
 * is scored by the pair scorer, and the best score, at or above `l1b_score_threshold`, would answer.
 * `similarity_threshold` (or the request's header) raises the floor, never lowers it.
 */
export const learnedDecision = (scorer: PairScorer, parts: DecisionParts): SemanticDecision => {
  const { config, embedder, index } = parts
  const vectors = new WeakMap<ChatRequest, Float32Array>()
  // What the scorer reads in the entries compared lately: a question's neighbours are compared again and again.
  const analyses = new LRUCache<SemanticEntry, Analysis>({ max: 4096 })
  const questionAnalyses = new WeakMap<ChatRequest, Analysis>()
  const analysisOf = (entry: SemanticEntry) => {
    let known = analyses.get(entry)
    if (!known) analyses.set(entry, known = analyse(entry.text))
    return known
  }
  return {
    // The budget's observations are of its keys (./budgetKey.ts): a new key is a new name.
    id: `learned-${scorer.model.version}-margin`,
    describe: (settings) =>
      `learned ${scorer.model.version} (score threshold ${scoreThresholdOf(settings)}, cosine floor ${
        Math.max(scorer.model.cosineFloor, settings.similarity_threshold ?? 0)
      })`,
    find: (request, view, threshold, keep, judge) => {
      const vector = embedder.fast(view.text)
      if (!vector) return noFastVector
      vectors.set(request, vector)
      const floor = Math.max(scorer.model.cosineFloor, threshold ?? 0)
      const candidates = index.searchModel(vector, CANDIDATES, view.scope)
      const question = lazily(() => {
        const analysis = analyse(view.text)
        questionAnalyses.set(request, analysis)
        return analysis
      })
      const scored = scoreCandidates(scorer, candidates, { floor, keep }, vector, question, { index, analysisOf })
      const { best } = scored
      // A refused pair scores 0: never served, even at a threshold of 0.
      const found = best && best.score > 0 && best.score >= scoreThresholdOf(config) ? best : undefined
      return Effect.as(
        annotateLearned(scored, found, candidates),
        found && judge({
          candidate: found.candidate,
          score: learnedKey(found.score, scored.runnerUp),
          stage: "fast",
          learnedScore: found.score
        })
      )
    },
    vectorFor: (request, text) => {
      const known = vectors.get(request) ?? embedder.fast(text)
      return known ? Effect.succeed(known) : noFastVector
    },
    fastVectorOf: () => undefined,
    stored: (request, entry) => {
      const analysis = questionAnalyses.get(request)
      if (analysis) analyses.set(entry, analysis)
    }
  }
}

/**
 * What the `l1b.lookup` span shows about a stage: the best cosine seen, how many candidates reached the cut, and the
 * verifier's verdict — what an operator tuning `similarity_threshold` looks for.
 */
const annotateStage = (
  stage: WouldBeHit["stage"],
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

/** The first candidate the caller keeps, at or above `cut`, that the verifier accepts. */
const firstVerified = (
  candidates: ReadonlyArray<Candidate>,
  cut: number,
  keep: (candidate: Candidate) => boolean,
  question: () => Analysis
) => {
  for (const candidate of candidates) {
    if (candidate.similarity < cut) break
    if (keep(candidate) && verify(question(), candidate.entry.text, candidate.similarity).accept) return candidate
  }
  return undefined
}

/** The best cosine among the other candidates, kept or not, verified or not: each one a rival (0 when none). */
const runnerUpOf = (candidates: ReadonlyArray<Candidate>, found: Candidate) => {
  for (const candidate of candidates) if (candidate !== found) return candidate.similarity
  return 0
}

/** The cosine decision: the fast stage at a stricter cut, then the full model, each with the verifier. */
export const cosineDecision = (parts: DecisionParts): SemanticDecision => {
  const { config, embedder, index } = parts
  const vectors = new WeakMap<ChatRequest, Float32Array>()
  const fastVectors = new WeakMap<ChatRequest, Float32Array>()
  const found = (candidates: ReadonlyArray<Candidate>, candidate: Candidate, stage: WouldBeHit["stage"]) => ({
    candidate,
    score: cosineKey(candidate.similarity, runnerUpOf(candidates, candidate)),
    stage
  })
  return {
    // The budget's observations are of its keys (./budgetKey.ts): a new key is a new name.
    id: "cosine-margin",
    describe: (settings) => `cosine (threshold ${settings.similarity_threshold ?? COSINE_THRESHOLD}, verifier)`,
    find: (request, view, asked, keep, judge) =>
      Effect.gen(function*() {
        const threshold = asked ?? COSINE_THRESHOLD
        yield* parts.catchUpFast
        // What the verifier reads in the question: worked out once, when a first candidate reaches the cut.
        const question = lazily(() => analyse(view.text))
        // Stage 1: the static encoder finds close rephrasings at a stricter cut, with the same verifier.
        const stageVector = parts.hasFastIndex ? embedder.fast(view.text) : undefined
        if (stageVector) {
          fastVectors.set(request, stageVector)
          const cut = Math.max(threshold, config.semantic_fast_threshold)
          const candidates = index.searchFast(stageVector, CANDIDATES, view.scope)
          const first = firstVerified(candidates, cut, keep, question)
          yield* annotateStage("fast", candidates, cut, first)
          // Refused here, the full model still looks: ending the lookup would let a higher floor (which moves a
          // would-be hit from this stage to the next) add hits.
          const ended = first && judge(found(candidates, first, "fast"))
          if (ended !== undefined) return ended
        }
        // Stage 2: the full model.
        const vector = yield* embedder.embed(view.text)
        vectors.set(request, vector)
        const candidates = index.searchModel(vector, CANDIDATES, view.scope)
        const first = firstVerified(candidates, threshold, keep, question)
        yield* annotateStage("model", candidates, threshold, first)
        return first && judge(found(candidates, first, "model"))
      }),
    vectorFor: (request, text) => {
      const known = vectors.get(request)
      return known ? Effect.succeed(known) : embedder.embed(text)
    },
    fastVectorOf: (request) => fastVectors.get(request),
    stored: () => undefined
  }
}
