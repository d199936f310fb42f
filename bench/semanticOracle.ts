// What L1b's false-hit budget could serve at best on the stream bench (issue 31), offline: the stream of
// bench/semanticStream.ts (same files, same seeded order, same truth, origins cached first, a question's answer
// stored after every miss) replayed against an exact nearest-neighbour search and the decision's own scoring, with
// rules that know the truth in advance — the best single threshold on the decision's score, and the best pair of
// thresholds on the score and a second feature the cache has at decision time. Hit rate is the bench's: served hits
// over all questions of the stream. No exploration, no cold start: an upper bound on what any budget can serve.
// `provable`, per budget: the most a budget could serve that the stream's own labels could prove within it
// (bench/semanticCeiling.ts). The replays themselves: bench/semanticReplay.ts.
// Usage: npm run bench:semantic -- --oracle [--decision learned|cosine] [--pairs gptcache|qqp] [--seed 1]
//                                  [--threshold T: the learned decision's own, below which nothing is a would-be hit]
import { loadavg } from "node:os"
import { cosineKey, learnedKey } from "../core/cache/semantic/decision/budgetKey.ts"
import { writeResults } from "./results.ts"
import { provableCeiling } from "./semanticCeiling.ts"
import { cosineReplay, learnedReplay, type Replay, type WouldBe } from "./semanticReplay.ts"
import { streamFiles } from "./semanticStream.ts"

export type { WouldBe } from "./semanticReplay.ts"

/** A rule serving some would-be hits; replayed over the stream, since what is served is not stored. */
type Rule = (hit: WouldBe) => boolean

const replayWith = (replay: Replay, rule: Rule) => {
  const served: Array<boolean> = []
  let hits = 0
  let wrong = 0
  let wouldBe = 0
  let wouldBeWrong = 0
  for (let at = 0; at < replay.questions; at++) {
    let hit = replay.wouldBe(at, served)
    let serve = hit !== undefined && rule(hit)
    // A refused stage leaves the next its look, as in the cache (each would-be hit put to the rule once).
    const next = hit?.stage === 0 && !serve ? replay.wouldBe(at, served, 1) : undefined
    if (next) (hit = next, serve = rule(next))
    served.push(serve)
    if (hit) (wouldBe++, wouldBeWrong += hit.wrong ? 1 : 0)
    if (serve && hit) (hits++, wrong += hit.wrong ? 1 : 0)
  }
  return {
    hit_rate: hits / replay.questions,
    false_hit_rate: wrong / Math.max(1, hits),
    would_be_rate: wouldBe / replay.questions,
    would_be_wrong: wouldBeWrong / Math.max(1, wouldBe)
  }
}

const quantiles = (values: ReadonlyArray<number>, count: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return [...new Set(Array.from({ length: count }, (_, i) => sorted[Math.floor((i * sorted.length) / count)]!))]
}

/** The second features tried beside the score: each read as "at least this". */
export const SECOND_FEATURES: Record<string, (hit: WouldBe) => number> = {
  margin_to_runner_up: (hit) => hit.score - hit.runnerUp,
  margin_to_other_answer: (hit) => hit.score - hit.runnerUpOther,
  cosine: (hit) => hit.cosine,
  agreeing_neighbours: (hit) => hit.agreeing,
  question_words: (hit) => hit.words,
  shorter_question: (hit) => -hit.words
}

/** One-number keys tried in place of the score: the score, the margin, and blends of the two. */
export const KEYS: Record<string, (hit: WouldBe) => number> = {
  score: (hit) => hit.score,
  margin: (hit) => hit.score - hit.runnerUp,
  "score + margin": (hit) => hit.score + (hit.score - hit.runnerUp),
  "score + 2 margin": (hit) => hit.score + 2 * (hit.score - hit.runnerUp),
  "score + 5 margin": (hit) => hit.score + 5 * (hit.score - hit.runnerUp),
  "margin to another answer": (hit) => hit.score - hit.runnerUpOther,
  "cosine margin": (hit) => hit.cosine - hit.runnerUpCosine,
  "score + cosine margin": (hit) => hit.score + (hit.cosine - hit.runnerUpCosine),
  "score + 5 cosine margin": (hit) => hit.score + 5 * (hit.cosine - hit.runnerUpCosine)
}

type Best = { rule: string; hit_rate: number; false_hit_rate: number }

/** The rule of the family with the most hits at a served false-hit rate within `budget`. */
const bestOf = (results: ReadonlyArray<Best>, budget: number): Best | undefined =>
  results.filter((r) => r.false_hit_rate <= budget).sort((a, b) => b.hit_rate - a.hit_rate)[0]

const round = (value: number) => Number(value.toFixed(4))

const oracleOf = (replay: Replay, budgets: ReadonlyArray<number>, key: (hit: WouldBe) => number) => {
  const all: Array<WouldBe> = []
  const base = replayWith(replay, (hit) => (all.push(hit), false))
  const servedAll: Array<WouldBe> = []
  replayWith(replay, (hit) => (servedAll.push(hit), true))
  const scores = quantiles(all.map((hit) => hit.score), 120)
  const stages = [...new Set(all.map((hit) => hit.stage ?? 0))]
  const single = scores.map((cut) => ({
    rule: `score >= ${round(cut)}`,
    ...replayWith(replay, (hit) => hit.score >= cut)
  }))
  // The cosine decision's stages are counted apart: a cut each.
  const perStage = stages.length < 2 ? [] : quantiles(all.filter((h) => h.stage === 0).map((h) => h.score), 25)
    .flatMap((fast) =>
      quantiles(all.filter((h) => h.stage === 1).map((h) => h.score), 40).map((full) => ({
        rule: `fast stage score >= ${round(fast)}, full model score >= ${round(full)}`,
        ...replayWith(replay, (hit) => hit.score >= (hit.stage === 0 ? fast : full))
      }))
    )
  const keyed = Object.entries(KEYS).map(([name, key]) => ({
    name,
    results: quantiles(all.map(key).concat(servedAll.map(key)), 150).map((cut) => ({
      rule: `${name} >= ${round(cut)}`,
      ...replayWith(replay, (hit) => key(hit) >= cut)
    }))
  }))
  const pairs = Object.entries(SECOND_FEATURES).map(([name, feature]) => {
    const cuts = quantiles(all.map(feature), 20)
    return {
      name,
      results: quantiles(all.map((hit) => hit.score), 40).flatMap((cut) =>
        cuts.map((second) => ({
          rule: `score >= ${round(cut)} and ${name} >= ${round(second)}`,
          ...replayWith(replay, (hit) => hit.score >= cut && feature(hit) >= second)
        }))
      )
    }
  })
  return {
    features: { all_stored: all, all_served: servedAll },
    would_be_hits_all_stored: { rate: round(base.would_be_rate), wrong: round(base.would_be_wrong) },
    served_all: replayWith(replay, () => true),
    budgets: budgets.map((budget) => ({
      budget,
      // What the labels of the stream could prove, on the budget's own key (bench/semanticCeiling.ts).
      provable: provableCeiling(servedAll, key, replay.questions, budget),
      single_threshold: bestOf(single, budget),
      per_stage_thresholds: bestOf(perStage, budget),
      one_key: keyed.map(({ name, results }) => ({ key: name, best: bestOf(results, budget) })),
      with_second_feature: pairs.map(({ name, results }) => ({ feature: name, best: bestOf(results, budget) }))
    }))
  }
}

export const runOracle = async (
  options: { decision?: string; pairs?: string; seed?: string; budgets?: string; threshold?: string }
) => {
  const seed = Number(options.seed ?? "1")
  const decision = options.decision ?? "learned"
  const budgets = (options.budgets ?? "0.02,0.05,0.1").split(",").map(Number)
  const files = []
  for (const file of await streamFiles(options.pairs)) {
    const threshold = options.threshold === undefined ? undefined : Number(options.threshold)
    const replay = decision === "cosine"
      ? await cosineReplay(file.pairs, seed)
      : await learnedReplay(file.pairs, seed, threshold)
    const key = decision === "cosine"
      ? (hit: WouldBe) => cosineKey(hit.score, hit.runnerUp)
      : (hit: WouldBe) => learnedKey(hit.score, hit.runnerUp)
    const oracle = oracleOf(replay, budgets, key)
    console.log(`\n${file.name}, ${decision} decision: ${replay.questions} questions`)
    const { features, ...figures } = oracle
    console.log(JSON.stringify(figures, null, 1))
    files.push({ file: file.name, ...figures })
    await writeResults(`semantic-oracle-${decision}-features`, { file: file.name, ...features })
  }
  const load = loadavg().map((value) => value.toFixed(2)).join(" ")
  console.log(`node ${process.version}, load average ${load}, seed ${seed}`)
  await writeResults(`semantic-oracle-${decision}`, { runtime: `node ${process.version}`, load, seed, files })
}
