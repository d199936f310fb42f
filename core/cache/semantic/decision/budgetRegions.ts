/** The counts a false-hit budget keeps per score region, and the bound it works out of them (./ErrorBudget.ts). */

/** Score bands: fine enough that a band's hits are alike, coarse enough that each gathers labels. */
export const REGIONS = 50

/** One-sided 95 %: the bound is exceeded by the true rate one time in twenty. */
const Z = 1.645

export interface RegionCounts {
  readonly seen: Array<number>
  readonly observed: Array<number>
  readonly wrong: Array<number>
}

export const emptyCounts = (): RegionCounts => ({
  seen: new Array<number>(REGIONS).fill(0),
  observed: new Array<number>(REGIONS).fill(0),
  wrong: new Array<number>(REGIONS).fill(0)
})

export const regionOf = (score: number): number => Math.max(0, Math.min(REGIONS - 1, Math.floor(score * REGIONS)))

/** Wilson's upper bound on a rate observed as `rate` over `n` trials (1 with none). */
export const wilsonUpper = (rate: number, n: number): number => {
  if (!(n > 0)) return 1
  const z2 = Z * Z
  const centre = rate + z2 / (2 * n)
  const spread = Z * Math.sqrt((rate * (1 - rate)) / n + z2 / (4 * n * n))
  return Math.min(1, (centre + spread) / (1 + z2 / n))
}

export interface RateEstimate {
  /** Would-be hits the estimate stands for, and the labels behind it. */
  readonly seen: number
  readonly observed: number
  /** The weighted false-hit rate and its upper bound. */
  readonly rate: number
  readonly upper: number
}

/** Running sums over regions, from the top down: a region's estimate is the sums down to it. */
export const accumulate = (
  counts: RegionCounts,
  region: number,
  sums: { seen: number; observed: number; wrong: number; squares: number }
) => {
  const regionSeen = Math.max(counts.seen[region]!, counts.observed[region]!)
  if (regionSeen === 0) return
  const labelled = counts.observed[region]!
  sums.seen += regionSeen
  sums.observed += labelled
  // A region seen but never labelled counts as all wrong: unknown is not safe.
  if (labelled === 0) {
    sums.wrong += regionSeen
    return
  }
  sums.wrong += regionSeen * (counts.wrong[region]! / labelled)
  sums.squares += (regionSeen * regionSeen) / labelled
}

export const estimateOf = (sums: { seen: number; observed: number; wrong: number; squares: number }): RateEstimate => {
  if (sums.seen === 0) return { seen: 0, observed: sums.observed, rate: 0, upper: 1 }
  const rate = sums.wrong / sums.seen
  const effective = sums.squares > 0 ? (sums.seen * sums.seen) / sums.squares : 0
  return { seen: sums.seen, observed: sums.observed, rate, upper: wilsonUpper(rate, effective) }
}

/** The false-hit rate of the would-be hits in regions `from` and above. */
export const estimateFrom = (counts: RegionCounts, from: number): RateEstimate => {
  const sums = { seen: 0, observed: 0, wrong: 0, squares: 0 }
  for (let region = REGIONS - 1; region >= from; region--) accumulate(counts, region, sums)
  return estimateOf(sums)
}

/**
 * The lowest region served under `budget`; `REGIONS` when none is. From the first cut (top down) whose bound holds,
 * down through cuts whose bounds all hold: never past one that fails. Taking the lowest of fifty cuts whose bound
 * holds would pick the luckiest — a clean patch below a bad region lowers the running rate and would let the bad
 * region in on the strength of a chance that had many tries.
 */
export const lowestServedRegion = (counts: RegionCounts, budget: number): number => {
  let lowest = REGIONS
  const sums = { seen: 0, observed: 0, wrong: 0, squares: 0 }
  for (let region = REGIONS - 1; region >= 0; region--) {
    if (counts.seen[region] === 0 && counts.observed[region] === 0) continue
    accumulate(counts, region, sums)
    if (estimateOf(sums).upper <= budget) lowest = region
    else if (lowest < REGIONS) break
  }
  return lowest
}

/** The counters a region keeps. */
export const FIELDS = ["seen", "observed", "wrong"] as const

/** What a replica sends to the shared totals. */
export interface BudgetDelta {
  /** Per band. */
  readonly counts: ReadonlyArray<readonly [string, RegionCounts]>
  readonly marks: ReadonlyArray<readonly [string, number]>
  readonly removed: ReadonlyArray<string>
}

/** The totals every replica shares. */
export interface SharedBudget {
  /** Per band. */
  readonly counts: ReadonlyMap<string, RegionCounts>
  readonly marks: ReadonlyMap<string, number>
}
