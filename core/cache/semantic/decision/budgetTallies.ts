/**
 * What a false-hit budget holds (./ErrorBudget.ts): its counts per band (shared with the replicas through
 * Redis) and its entries' marks.
 */
import { LRUCache } from "lru-cache"
import {
  type BudgetDelta,
  emptyCounts,
  FIELDS,
  lowestServedRegion,
  type RegionCounts,
  REGIONS,
  type SharedBudget
} from "./budgetRegions.ts"

/** What an entry learned from its own hits: it serves only above the best score it was wrong at (feedback: never). */
export type EntryMarks = Map<string, number>

/** An entry's mark once a caller said it answered wrong: above every score (scores are 0–1). */
export const STOPPED = 2

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
export const makeBands = (maxBands: number) => {
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
export const makeEntryMarks = (maxMarks: number, isLive: (entry: string) => boolean) => {
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
