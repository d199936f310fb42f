// What a false-hit budget can serve at best on the stream when it must prove it (issue 31): the oracle
// (bench/semanticOracle.ts) knows the truth; a cache must show, from labels, that what it serves is within the budget.
// For each cut on the budget's key (its 50 score regions, top down) the served hits, their false-hit rate, and the
// labels a one-sided 95 % bound needs to put that rate under the budget — at best: the labels spread over the regions
// in Neyman's optimal allocation, each region's variance from its true rate (a clean region counted as half a wrong
// one), normal approximation. Labels come only from would-be hits not served, so a cut is out of reach when it needs
// more than the stream's would-be hits minus those it serves. No cold start, no exploration: an upper bound.
import type { WouldBe } from "./semanticReplay.ts"

const REGIONS = 50
const Z = 1.645

export interface Ceiling {
  readonly key_from: number
  readonly hit_rate: number
  readonly false_hit_rate: number
  readonly labels_needed: number
  readonly labels_available: number
}

/** Per region of `key`: would-be hits and wrong ones. */
const regionsOf = (hits: ReadonlyArray<WouldBe>, key: (hit: WouldBe) => number) => {
  const regions = Array.from({ length: REGIONS }, () => ({ hits: 0, wrong: 0 }))
  for (const hit of hits) {
    const region = regions[Math.max(0, Math.min(REGIONS - 1, Math.floor(key(hit) * REGIONS)))]!
    region.hits++
    if (hit.wrong) region.wrong++
  }
  return regions
}

/** Every cut's figures, top down, under `budget`. */
export const cutsOf = (
  hits: ReadonlyArray<WouldBe>,
  key: (hit: WouldBe) => number,
  questions: number,
  budget: number
): Array<Ceiling> => {
  const regions = regionsOf(hits, key)
  const out: Array<Ceiling> = []
  for (let cut = REGIONS - 1; cut >= 0; cut--) {
    const served = regions.slice(cut)
    const total = served.reduce((sum, region) => sum + region.hits, 0)
    if (total === 0) continue
    const rate = served.reduce((sum, region) => sum + region.wrong, 0) / total
    // Neyman: the bound's half-width is Z · Σ π_r σ_r / √n with the labels allocated in proportion to π_r σ_r.
    const spread = served.reduce((sum, region) => {
      if (region.hits === 0) return sum
      const p = Math.max(region.wrong, 0.5) / region.hits
      return sum + (region.hits / total) * Math.sqrt(p * (1 - p))
    }, 0)
    const needed = rate < budget ? (Z * spread / (budget - rate)) ** 2 : Number.POSITIVE_INFINITY
    out.push({
      key_from: cut / REGIONS,
      hit_rate: Number((total / questions).toFixed(4)),
      false_hit_rate: Number(rate.toFixed(4)),
      labels_needed: Math.ceil(needed),
      labels_available: hits.length - total
    })
  }
  return out
}

/** The most hits of a cut whose bound the stream's labels could prove; `undefined` when none. */
export const provableCeiling = (
  hits: ReadonlyArray<WouldBe>,
  key: (hit: WouldBe) => number,
  questions: number,
  budget: number
) =>
  cutsOf(hits, key, questions, budget)
    .filter((cut) => cut.labels_needed <= cut.labels_available)
    .sort((a, b) => b.hit_rate - a.hit_rate)[0]
