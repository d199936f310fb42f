// The false-hit budget itself (core/cache/semantic/decision/ErrorBudget.ts) on the stream, offline: the oracle's
// replay (bench/semanticReplay.ts: same files, order, truth and stores as --stream, an exact neighbour search) gives
// each question's would-be hits, stage by stage; the budget decides each as the cache does (bands per stage, the
// decision's key, a refused stage falling through, withheld and explored hits labelled by the truth). Seconds per
// run instead of --stream's minutes, so a change to the budget can be tried over many exploration seeds; --stream
// through the real gateway stays the measure.
// Usage: npm run bench:semantic -- --replay-budget [--decision learned|cosine] [--pairs gptcache|qqp]
//                                  [--budgets 0.02,0.05,0.1] [--runs 5] [--seed 1] [--threshold T]
import { cosineKey, learnedKey } from "../core/cache/semantic/decision/budgetKey.ts"
import { makeErrorBudget } from "../core/cache/semantic/decision/ErrorBudget.ts"
import { cosineReplay, learnedReplay, type Replay, type WouldBe } from "./semanticReplay.ts"
import { seeded, streamFiles } from "./semanticStream.ts"

/** One run: each question's outcome (a hit, and whether it was wrong) and the explored would-be hits after 20 %. */
const runOnce = (replay: Replay, key: (hit: WouldBe) => number, budget: number, seed: number) => {
  const errorBudget = makeErrorBudget(seeded(seed))
  const served: Array<boolean> = []
  const outcomes: Array<{ hit: boolean; wrong: boolean }> = []
  let explored = 0
  for (let at = 0; at < replay.questions; at++) {
    const labels: Array<{ entry: string; key: number; band: string; right: boolean }> = []
    let ended: { wrong: boolean; serve: boolean } | undefined
    for (let stage = 0; ended === undefined; stage = 1) {
      const hit = replay.wouldBe(at, served, stage)
      if (!hit) break
      const label = { entry: String(hit.entry), key: key(hit), band: `${hit.stage ?? 0}`, right: !hit.wrong }
      const verdict = errorBudget.decide(label.entry, label.key, budget, label.band)
      if (verdict._tag !== "Serve") labels.push(label)
      if (verdict._tag !== "Withhold") ended = { wrong: hit.wrong, serve: verdict._tag === "Serve" }
      if (verdict._tag === "Explore" && at >= replay.questions / 5) explored++
      if (hit.stage !== 0) break
    }
    const hit = ended?.serve === true
    served.push(hit)
    if (!hit) { for (const l of labels) errorBudget.observe(l.entry, l.key, l.right, l.band) }
    outcomes.push({ hit, wrong: hit && ended!.wrong })
  }
  return { outcomes, explored }
}

export const runBudgetReplay = async (
  options: { decision?: string; pairs?: string; budgets?: string; runs?: string; seed?: string; threshold?: string }
) => {
  const decision = options.decision ?? "learned"
  const seed = Number(options.seed ?? "1")
  const runs = Number(options.runs ?? "5")
  const budgets = (options.budgets ?? "0.02,0.05,0.1").split(",").map(Number)
  for (const file of await streamFiles(options.pairs)) {
    const replay = decision === "cosine"
      ? await cosineReplay(file.pairs, seed)
      : await learnedReplay(file.pairs, seed, options.threshold === undefined ? undefined : Number(options.threshold))
    const key = decision === "cosine"
      ? (hit: WouldBe) => cosineKey(hit.score, hit.runnerUp)
      : (hit: WouldBe) => learnedKey(hit.score, hit.runnerUp)
    for (const budget of budgets) {
      const rows = Array.from({ length: runs }, (_, run) => {
        const { outcomes, explored } = runOnce(replay, key, budget, 11 + 7 * run)
        const half = outcomes.slice(outcomes.length / 2)
        const hits = (list: typeof outcomes) => list.filter((outcome) => outcome.hit).length
        return {
          hit_rate: hits(outcomes) / outcomes.length,
          second_half_hit_rate: hits(half) / half.length,
          second_half_false_hit_rate: half.filter((outcome) => outcome.wrong).length / Math.max(1, hits(half)),
          explored_after_20pct: explored
        }
      })
      const mean = (field: keyof (typeof rows)[number]) =>
        Number((rows.reduce((sum, row) => sum + row[field], 0) / rows.length).toFixed(4))
      const worst = Math.max(...rows.map((row) => row.second_half_false_hit_rate))
      console.log(JSON.stringify({
        file: file.name,
        decision,
        budget,
        runs,
        hit_rate: mean("hit_rate"),
        second_half_hit_rate: mean("second_half_hit_rate"),
        second_half_false_hit_rate: mean("second_half_false_hit_rate"),
        worst_second_half_false_hit_rate: Number(worst.toFixed(4)),
        explored_after_20pct: mean("explored_after_20pct")
      }))
    }
  }
}
