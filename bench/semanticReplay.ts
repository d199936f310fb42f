// The stream of bench/semanticStream.ts replayed offline for the oracle (bench/semanticOracle.ts): same files, same
// seeded order, same truth, origins cached first, a question's answer stored after every miss; an exact
// nearest-neighbour search and the decision's own scoring give each question's would-be hit, with the features a
// budget could read and whether it is right.
import { makePairScorer } from "../core/cache/semantic/decision/PairScorer.ts"
import { shippedDecision } from "../core/cache/semantic/decision/weights.ts"
import { analyse, type Analysis, numbersDifferFrom, verify } from "../core/cache/semantic/SemanticVerifier.ts"
import type { EmbeddingBackend } from "../core/embedding/Embedder.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { loadUseLiteFastOnly } from "../runtimes/embedding/useLiteStatic.ts"
import { withDiskCache } from "./embeddingCache.ts"
import type { LabelledPair } from "./l1bData.ts"
import { streamOf, truthOf } from "./semanticStream.ts"

/** Neighbours kept per question: the decision checks 16 of those still cached. */
const KEPT = 48
const CHECKED = 16

/** A cached question: its text, its answer, whether it is an origin (cached first), when it is asked. */
interface Entry {
  readonly text: string
  readonly answer: string
  readonly analysis: Analysis
  readonly origin: boolean
  /** Stream positions at which it is asked; stored after the first of them that is not served. */
  readonly asked: Array<number>
}

/** What the decision knows of one neighbour: its entry, its cosine, and its score (undefined: refused / unchecked). */
interface Neighbour {
  readonly entry: number
  readonly cosine: number
  readonly score: number | undefined
}

/** A would-be hit as the decision sees it, with the features a budget could read, and whether it is right. */
export interface WouldBe {
  readonly position: number
  /** The entry that would answer. */
  readonly entry: number
  /** The cosine decision's stage: 0 the fast one, 1 the full model (the learned decision has one). */
  readonly stage?: number
  readonly score: number
  readonly cosine: number
  /** The best score among the other candidates; among those with another answer (0 when none). */
  readonly runnerUp: number
  readonly runnerUpOther: number
  /** The best cosine among the other candidates checked, whatever they scored (0 when none). */
  readonly runnerUpCosine: number
  /** Other candidates at or above the decision's threshold that have the best one's answer. */
  readonly agreeing: number
  readonly words: number
  readonly wrong: boolean
}

const dot = (a: Float32Array, b: Float32Array) => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!
  return sum
}
const unit = (v: Float32Array) => {
  const norm = Math.sqrt(dot(v, v)) || 1
  return v.map((x) => x / norm)
}

const entriesOf = (pairs: ReadonlyArray<LabelledPair>, stream: ReadonlyArray<LabelledPair>) => {
  const answers = truthOf(pairs)
  const byText = new Map<string, Entry>()
  const add = (text: string, at: number) => {
    let entry = byText.get(text)
    if (!entry) {
      const fresh = {
        text,
        answer: answers.get(text)!,
        analysis: analyse(text),
        origin: at < 0,
        asked: [] as Array<number>
      }
      byText.set(text, entry = fresh)
    }
    if (at >= 0) entry.asked.push(at)
  }
  for (const pair of pairs) add(pair.origin, -1)
  stream.forEach((pair, at) => add(pair.similar, at))
  const entries = [...byText.values()]
  return { entries, answers, indexOf: new Map(entries.map((entry, i) => [entry.text, i])) }
}

/** Whether an entry can be cached when question `at` is asked: an origin, or a question asked before it. */
const couldBeCached = (entry: Entry, at: number) => entry.origin || entry.asked.some((asked) => asked < at)

/** Each question's nearest `KEPT` entries that could be cached when it is asked, by cosine, best first. */
const nearest = (vectors: ReadonlyArray<Float32Array>, entries: ReadonlyArray<Entry>, questions: Array<number>) =>
  questions.map((question, at) => {
    const list: Array<{ entry: number; cosine: number }> = []
    entries.forEach((entry, i) => {
      if (couldBeCached(entry, at)) list.push({ entry: i, cosine: dot(vectors[question]!, vectors[i]!) })
    })
    return list.sort((a, b) => b.cosine - a.cosine).slice(0, KEPT)
  })

/** Whether an entry is cached when question `at` is asked: an origin, or an earlier question that was not served. */
const cachedAt = (entry: Entry, at: number, served: ReadonlyArray<boolean>) =>
  entry.origin || entry.asked.some((asked) => asked < at && !served[asked])

export interface Replay {
  /**
   * The would-be hit of question `at` given which earlier questions were served, if any: of the first stage from
   * `stage` on that has one (a stage's refused would-be hit leaves the next stage its look).
   */
  readonly wouldBe: (at: number, served: ReadonlyArray<boolean>, stage?: number) => WouldBe | undefined
  readonly questions: number
}

/** The learned decision: candidates at or above the cosine floor scored by the shipped scorer, the best one kept. */
export const learnedReplay = async (
  pairs: ReadonlyArray<LabelledPair>,
  seed: number,
  threshold = shippedDecision.threshold
): Promise<Replay> => {
  const stream = streamOf(pairs, seed)
  const { entries, answers, indexOf } = entriesOf(pairs, stream)
  const backend = await loadUseLiteFastOnly()
  const vectors = entries.map((entry) => unit(backend.fast!(entry.text)!))
  const questions = stream.map((pair) => indexOf.get(pair.similar)!)
  const scorer = makePairScorer(shippedDecision)
  const floor = shippedDecision.cosineFloor
  const neighbours: Array<Array<Neighbour>> = nearest(vectors, entries, questions).map((list, at) => {
    const question = entries[questions[at]!]!
    return list.map(({ entry, cosine }) => {
      const cached = entries[entry]!
      if (cosine < floor || numbersDifferFrom(question.analysis, cached.text)) {
        return { entry, cosine, score: undefined }
      }
      const score = scorer.score({
        cosine,
        question: vectors[questions[at]!]!,
        questionText: question.analysis,
        cached: () => vectors[entry],
        cachedText: cached.analysis
      })
      return { entry, cosine, score }
    })
  })
  return {
    questions: stream.length,
    wouldBe: (at, served) => {
      const checked = neighbours[at]!.filter((n) => cachedAt(entries[n.entry]!, at, served)).slice(0, CHECKED)
      const scored = checked.filter((n) => n.score !== undefined && n.score > 0)
      if (scored.length === 0) return undefined
      const best = scored.reduce((a, b) => (b.score! > a.score! ? b : a))
      if (best.score! < threshold) return undefined
      const answer = entries[best.entry]!.answer
      const others = scored.filter((n) => n !== best)
      const truth = answers.get(stream[at]!.similar)!
      return {
        position: at,
        entry: best.entry,
        score: best.score!,
        cosine: best.cosine,
        runnerUpCosine: Math.max(0, ...checked.filter((n) => n !== best).map((n) => n.cosine)),
        runnerUp: Math.max(0, ...others.map((n) => n.score!)),
        runnerUpOther: Math.max(0, ...others.filter((n) => entries[n.entry]!.answer !== answer).map((n) => n.score!)),
        agreeing: others.filter((n) => n.score! >= threshold && entries[n.entry]!.answer === answer).length,
        words: entries[questions[at]!]!.analysis.words.length,
        wrong: answer !== truth
      }
    }
  }
}

/** The first candidate still cached, at or above `cut`, that the verifier accepts (the cosine decision's rule). */
const firstAccepted = (list: ReadonlyArray<Neighbour>, cut: number) =>
  list.find((n) => n.score !== undefined && n.cosine >= cut)

/**
 * The cosine decision: the fast stage at its stricter cut, then the full model at the threshold, each with the
 * verifier; the score is the cosine. `stage` 1 is the full model's (the budget counts the stages apart).
 */
export const cosineReplay = async (pairs: ReadonlyArray<LabelledPair>, seed: number): Promise<Replay> => {
  const stream = streamOf(pairs, seed)
  const { entries, answers, indexOf } = entriesOf(pairs, stream)
  const fastBackend = await loadUseLiteFastOnly()
  const disk = await withDiskCache(await loadUseLite())
  await disk.prefetch(entries.map((entry) => entry.text))
  await disk.save()
  const model: EmbeddingBackend = disk.backend
  const modelVectors = (await model.embed(entries.map((entry) => entry.text))).map(unit)
  const fastVectors = entries.map((entry) => unit(fastBackend.fast!(entry.text)!))
  const questions = stream.map((pair) => indexOf.get(pair.similar)!)
  // `score` here marks the verifier's acceptance (its cosine is the decision's score).
  const checkedBy = (vectors: ReadonlyArray<Float32Array>) =>
    nearest(vectors, entries, questions).map((list, at) =>
      list.map(({ entry, cosine }): Neighbour => ({
        entry,
        cosine,
        score: verify(entries[questions[at]!]!.analysis, entries[entry]!.analysis, cosine).accept ? cosine : undefined
      }))
    )
  const stages = [{ lists: checkedBy(fastVectors), cut: 0.93 }, { lists: checkedBy(modelVectors), cut: 0.85 }]
  return {
    questions: stream.length,
    wouldBe: (at, served, from = 0) => {
      for (const [stage, { lists, cut }] of stages.entries()) {
        if (stage < from) continue
        const checked = lists[at]!.filter((n) => cachedAt(entries[n.entry]!, at, served)).slice(0, CHECKED)
        const best = firstAccepted(checked, cut)
        if (!best) continue
        const answer = entries[best.entry]!.answer
        const others = checked.filter((n) => n !== best)
        return {
          position: at,
          entry: best.entry,
          stage,
          score: best.cosine,
          cosine: best.cosine,
          runnerUpCosine: Math.max(0, ...others.map((n) => n.cosine)),
          runnerUp: Math.max(0, ...others.map((n) => n.cosine)),
          runnerUpOther: Math.max(0, ...others.filter((n) => entries[n.entry]!.answer !== answer).map((n) => n.cosine)),
          agreeing: others.filter((n) =>
            n.score !== undefined && n.cosine >= cut && entries[n.entry]!.answer === answer
          )
            .length,
          words: entries[questions[at]!]!.analysis.words.length,
          wrong: answer !== answers.get(stream[at]!.similar)
        }
      }
      return undefined
    }
  }
}
