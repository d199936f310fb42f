import { LRUCache } from "lru-cache"

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
 * bound at or under the budget: a mixture of served hits whose bound holds. With nothing observed, nothing serves.
 */

/** Score bands: fine enough that a band's hits are alike, coarse enough that each gathers labels. */
export const REGIONS = 50

/** One-sided 95 %: the bound is exceeded by the true rate one time in twenty. */
const Z = 1.645

/** The share of served would-be hits also sent upstream to be checked. */
export const EXPLORATION_RATE = 0.05

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
const accumulate = (
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

const estimateOf = (sums: { seen: number; observed: number; wrong: number; squares: number }): RateEstimate => {
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

/** The lowest region served under `budget`; `REGIONS` when none is. */
export const lowestServedRegion = (counts: RegionCounts, budget: number): number => {
  let lowest = REGIONS
  const sums = { seen: 0, observed: 0, wrong: 0, squares: 0 }
  for (let region = REGIONS - 1; region >= 0; region--) {
    if (counts.seen[region] === 0 && counts.observed[region] === 0) continue
    accumulate(counts, region, sums)
    if (estimateOf(sums).upper <= budget) lowest = region
  }
  return lowest
}

/** What an entry learned from its own hits: it serves only above the best score it was wrong at (feedback: never). */
export type EntryMarks = Map<string, number>

/** An entry's mark once a caller said it answered wrong: above every score (scores are 0–1). */
export const STOPPED = 2

export type Verdict =
  | { readonly _tag: "Serve" }
  | { readonly _tag: "Explore" }
  | { readonly _tag: "Withhold"; readonly why: "budget" | "entry" }

const FIELDS = ["seen", "observed", "wrong"] as const

/** The counts per region: this replica's view (the shared totals plus what it has not yet sent). */
const makeRegionTally = () => {
  const counts = emptyCounts()
  /** Counted here and not yet sent to the shared totals; nothing held while there is none (a band per scope). */
  let unsent: RegionCounts | undefined
  // The lowest served region per budget, worked out again only when the counts move.
  let lowestByBudget = new Map<number, number>()
  return {
    counts,
    add: (field: keyof RegionCounts, region: number) => {
      counts[field][region]! += 1
      unsent ??= emptyCounts()
      unsent[field][region]! += 1
      lowestByBudget = new Map()
    },
    lowest: (budget: number) => {
      let region = lowestByBudget.get(budget)
      if (region === undefined) lowestByBudget.set(budget, region = lowestServedRegion(counts, budget))
      return region
    },
    /** What was counted here and not yet sent; `undefined` when nothing was. */
    take: () => {
      const taken = unsent
      unsent = undefined
      return taken
    },
    putBack: (delta: RegionCounts) => {
      const into = unsent ??= emptyCounts()
      for (const field of FIELDS) delta[field].forEach((by, region) => (into[field][region]! += by))
    },
    adopt: (shared: RegionCounts) => {
      for (const field of FIELDS) {
        for (let region = 0; region < REGIONS; region++) {
          counts[field][region] = shared[field][region]! + (unsent?.[field][region] ?? 0)
        }
      }
      lowestByBudget = new Map()
    }
  }
}

type RegionTally = ReturnType<typeof makeRegionTally>

/** The tallies per band, bounded: a band evicted is cold again (serves nothing), its unsent counts still sent. */
const makeBands = (maxBands: number) => {
  let evicted: Array<readonly [string, RegionCounts]> = []
  const bands = new LRUCache<string, RegionTally>({
    max: maxBands,
    dispose: (tally, band, reason) => {
      const unsent = reason === "evict" ? tally.take() : undefined
      if (unsent) evicted.push([band, unsent])
    }
  })
  const of = (band: string) => {
    let tally = bands.get(band)
    if (tally === undefined) bands.set(band, tally = makeRegionTally())
    return tally
  }
  return {
    of,
    /** The band's tally, if it has one (a read that creates nothing). */
    peek: (band: string) => bands.peek(band),
    all: () => [...bands.entries()],
    take: (): Array<readonly [string, RegionCounts]> => {
      const taken = evicted
      evicted = []
      for (const [band, tally] of bands.entries()) {
        const unsent = tally.take()
        if (unsent) taken.push([band, unsent])
      }
      return taken
    },
    putBack: (delta: BudgetDelta["counts"]) => {
      for (const [band, counts] of delta) of(band).putBack(counts)
    },
    adopt: (shared: SharedBudget["counts"]) => {
      for (const [band, tally] of bands.entries()) if (!shared.has(band)) tally.adopt(emptyCounts())
      for (const [band, counts] of shared) of(band).adopt(counts)
    }
  }
}

/**
 * The entries' marks, bounded like the index: the oldest goes first (its entry has most likely left already), but
 * never a stopped entry's while it is still cached (`isLive`) — dropped, it would answer others again.
 */
const makeEntryMarks = (maxMarks: number, isLive: (entry: string) => boolean) => {
  const marks: EntryMarks = new Map()
  const makeRoom = () => {
    for (const [entry, above] of marks) {
      if (marks.size < maxMarks) return
      if (above !== STOPPED || !isLive(entry)) marks.delete(entry)
    }
  }
  /** Marks raised, and entries removed, here since the last `take`. */
  let raised = new Set<string>()
  let removed = new Set<string>()
  return {
    marks,
    raise: (entry: string, above: number) => {
      if (!marks.has(entry)) makeRoom()
      marks.set(entry, Math.max(marks.get(entry) ?? above, above))
      raised.add(entry)
      removed.delete(entry)
    },
    /** The entry was stored again: its mark is sent again, to live as long as it does. */
    renew: (entry: string) => {
      if (marks.has(entry)) raised.add(entry)
    },
    forget: (entry: string, shared: boolean) => {
      marks.delete(entry)
      raised.delete(entry)
      if (shared) removed.add(entry)
    },
    take: () => {
      const taken = {
        marks: [...raised].map((entry): [string, number] => [entry, marks.get(entry) ?? STOPPED]),
        removed: [...removed]
      }
      raised = new Set()
      removed = new Set()
      return taken
    },
    putBack: (delta: Pick<BudgetDelta, "marks" | "removed">) => {
      for (const [entry] of delta.marks) if (marks.has(entry)) raised.add(entry)
      for (const entry of delta.removed) if (!marks.has(entry)) removed.add(entry)
    },
    adopt: (shared: ReadonlyMap<string, number>) => {
      const local = new Map([...raised].map((entry) => [entry, marks.get(entry)!] as const))
      marks.clear()
      // Bounded as here: the shared marks may be more than this replica keeps.
      for (const [entry, above] of shared) {
        if (removed.has(entry) || local.has(entry)) continue
        makeRoom()
        marks.set(entry, above)
      }
      for (const [entry, above] of local) {
        makeRoom()
        marks.set(entry, Math.max(shared.get(entry) ?? above, above))
      }
    }
  }
}

type Tally = { served: number; explored: number; withheld: number }

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
  const tally: Tally = { served: 0, explored: 0, withheld: 0 }
  const verdict = (tag: "Serve" | "Explore", count: "served" | "explored"): Verdict => {
    tally[count]++
    return { _tag: tag }
  }
  const withheld = (why: "budget" | "entry"): Verdict => {
    tally.withheld++
    return { _tag: "Withhold", why }
  }
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
