/**
 * L1b's false-hit budget (issue 31; vCache, arXiv 2502.03771, learns per-entry thresholds online under a
 * user-defined error bound): each would-be hit is decided from what was observed of hits like it.
 *
 * "Like it" is its band (its scope — one tenant's hits never open a band for another — at one stage of the
 * decision, whose scores mean nothing to another stage's), its score region (the decision's score, cut into
 * `REGIONS` slices) and its entry. A band starts with nothing observed: it serves nothing. A region's would-be
 * hits are counted (`seen`) and a share of them labelled (`observed`, of which `wrong`): every would-be hit the
 * budget does not serve is labelled for free (it goes upstream anyway), and a few served ones are explored. Labels
 * are weighted by how many would-be hits each one stands for (seen / observed in its region), so the estimate is of
 * the traffic, not of the labels; the bound is Wilson's on the weighted estimate's effective sample size (Kish).
 * Served are the candidates at or above the lowest region whose band, with every region above it, has an upper
 * bound at or under the budget — reached from the top without passing a cut whose bound fails: a mixture of served
 * hits whose bound holds. With nothing observed, nothing serves.
 */

import {
  accumulate,
  type BudgetDelta,
  emptyCounts,
  estimateOf,
  FIELDS,
  regionOf,
  REGIONS,
  type SharedBudget
} from "./budgetRegions.ts"
import { type EntryMarks, makeBands, makeEntryMarks, STOPPED } from "./budgetTallies.ts"

export {
  type BudgetDelta,
  emptyCounts,
  estimateFrom,
  lowestServedRegion,
  type RateEstimate,
  type RegionCounts,
  regionOf,
  REGIONS,
  type SharedBudget,
  wilsonUpper
} from "./budgetRegions.ts"
export { type EntryMarks, STOPPED } from "./budgetTallies.ts"

/**
 * The share of served would-be hits also sent upstream to be checked. Small: each explored hit is a hit lost, most
 * labels come free from the withheld ones, and weighting each label by the hits it stands for keeps the estimate of
 * the served traffic unbiased at any rate — a lower rate only widens the bound (bench/README.md: the stream bench).
 */
export const EXPLORATION_RATE = 0.02

export type Verdict =
  | { readonly _tag: "Serve" }
  | { readonly _tag: "Explore" }
  | { readonly _tag: "Withhold"; readonly why: "budget" | "entry" }

type Tally = { served: number; explored: number; withheld: number }

/** The verdicts, each counted for /health. */
const makeVerdicts = () => {
  const tally: Tally = { served: 0, explored: 0, withheld: 0 }
  return {
    tally,
    verdict: (tag: "Serve" | "Explore", count: "served" | "explored"): Verdict => {
      tally[count]++
      return { _tag: tag }
    },
    withheld: (why: "budget" | "entry"): Verdict => {
      tally.withheld++
      return { _tag: "Withhold", why }
    }
  }
}

/** What /health shows of a budget: every band's served regions (all it saw when it serves nothing) together. */
const statusOf = (bands: ReturnType<typeof makeBands>, marks: EntryMarks, tally: Tally, budget: number) => {
  const counts = emptyCounts()
  const sums = { seen: 0, observed: 0, wrong: 0, squares: 0 }
  let lowestServed = REGIONS
  for (const [, regions] of bands.all()) {
    const served = regions.lowest(budget)
    lowestServed = Math.min(lowestServed, served)
    for (let region = REGIONS - 1; region >= (served < REGIONS ? served : 0); region--) {
      accumulate(regions.counts, region, sums)
    }
    for (const field of FIELDS) regions.counts[field].forEach((by, region) => (counts[field][region]! += by))
  }
  const estimate = estimateOf(sums)
  let stopped = 0
  for (const above of marks.values()) if (above === STOPPED) stopped++
  return {
    budget,
    served_hits: tally.served,
    explored_hits: tally.explored,
    withheld_hits: tally.withheld,
    labelled_hits: estimate.observed,
    // Over what is served now (every region seen while nothing serves): the rate the budget holds to.
    observed_false_hit_rate: Number(estimate.rate.toFixed(4)),
    false_hit_rate_upper_bound: Number(estimate.upper.toFixed(4)),
    // The lowest score any band serves from.
    serves_from_score: lowestServed < REGIONS ? lowestServed / REGIONS : null,
    entries_stopped_serving: stopped,
    entries_threshold_raised: marks.size - stopped,
    // What the bound is made of: each score region seen (all bands), as [lowest score, would-be hits, labelled, wrong].
    regions: counts.seen.flatMap((seen, region) =>
      seen + counts.observed[region]! === 0
        ? []
        : [[region / REGIONS, seen, counts.observed[region]!, counts.wrong[region]!] as const]
    )
  }
}

/**
 * The budget of one decision: its counts per band and region, the entries' marks, and the verdict on a would-be
 * hit. `maxMarks` bounds the marks and the bands alike (a scope with entries holds at least one); `isLive`: whether
 * an entry is still cached.
 */
export const makeErrorBudget = (
  random: () => number = Math.random,
  maxMarks = 100_000,
  isLive: (entry: string) => boolean = () => false
) => {
  const bands = makeBands(maxMarks)
  const entries = makeEntryMarks(maxMarks, isLive)
  const { marks } = entries
  const { tally, verdict, withheld } = makeVerdicts()
  return {
    /** The verdict on a would-be hit of `entry` at `score` in `band`, counted as seen (under a budget). */
    decide: (entry: string, score: number, budget: number, band: string): Verdict => {
      const region = regionOf(score)
      // 1 is no budget: nothing is counted, the decision alone serves (an entry's marks still hold).
      if (budget >= 1) {
        return score <= (marks.get(entry) ?? Number.NEGATIVE_INFINITY) ? withheld("entry") : verdict("Serve", "served")
      }
      const regions = bands.of(band)
      regions.add("seen", region)
      if (score <= (marks.get(entry) ?? Number.NEGATIVE_INFINITY)) return withheld("entry")
      if (region < regions.lowest(budget)) return withheld("budget")
      return random() < EXPLORATION_RATE ? verdict("Explore", "explored") : verdict("Serve", "served")
    },
    /** A label: the fresh answer to a would-be hit of `entry` at `score` in `band` matched the cached one, or not. */
    observe: (entry: string, score: number, correct: boolean, band: string) => {
      const region = regionOf(score)
      const regions = bands.of(band)
      regions.add("observed", region)
      if (correct) return
      regions.add("wrong", region)
      entries.raise(entry, score)
    },
    /** A caller's word that an answer of `entry` was wrong: it stops answering other questions. */
    stop: (entry: string) => entries.raise(entry, STOPPED),
    /** The entry was stored (again): a mark it has lives on with it. */
    stored: entries.renew,
    /** The entry is gone (removed here; `shared`: the removal is this replica's to share). */
    forget: entries.forget,
    markOf: (entry: string) => marks.get(entry),
    /** Takes what was counted, marked and removed here since the last call, for the shared totals. */
    takeUnsent: (): BudgetDelta => ({ counts: bands.take(), ...entries.take() }),
    /** A delta the shared totals did not take: sent again next time. */
    putBack: (delta: BudgetDelta) => {
      bands.putBack(delta.counts)
      entries.putBack(delta)
    },
    /** The shared totals (which include what this replica sent), plus what it has counted and marked since. */
    adopt: (shared: SharedBudget) => {
      bands.adopt(shared.counts)
      entries.adopt(shared.marks)
    },
    status: (budget: number) => statusOf(bands, marks, tally, budget)
  }
}

export type ErrorBudget = ReturnType<typeof makeErrorBudget>
