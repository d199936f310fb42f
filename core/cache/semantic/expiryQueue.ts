import type { SemanticEntry } from "./semanticEntry.ts"

export interface Expiry {
  readonly at: number
  readonly label: number
  readonly entry: SemanticEntry
}

/**
 * Entries by the time they expire, soonest first (a binary heap): the expired ones are found without reading the
 * others. lru-cache's own `purgeStale` reads every entry, once a second: a pause that grew with the cache.
 */
export const makeExpiryQueue = () => {
  let heap: Array<Expiry> = []
  const before = (i: number, j: number) => heap[i]!.at < heap[j]!.at
  const swap = (i: number, j: number) => {
    const held = heap[i]!
    heap[i] = heap[j]!
    heap[j] = held
  }
  const down = (from: number) => {
    for (let i = from;;) {
      const left = 2 * i + 1
      const right = left + 1
      let first = i
      if (left < heap.length && before(left, first)) first = left
      if (right < heap.length && before(right, first)) first = right
      if (first === i) return
      swap(i, first)
      i = first
    }
  }
  return {
    size: () => heap.length,
    push: (expiry: Expiry) => {
      heap.push(expiry)
      for (let i = heap.length - 1; i > 0;) {
        const parent = (i - 1) >> 1
        if (!before(i, parent)) return
        swap(i, parent)
        i = parent
      }
    },
    /** The soonest expiry at or before `now`, taken off the queue. */
    takeDue: (now: number): Expiry | undefined => {
      const first = heap[0]
      if (first === undefined || first.at > now) return undefined
      const last = heap.pop()!
      if (heap.length > 0) {
        heap[0] = last
        down(0)
      }
      return first
    },
    /** Keeps only what `keep` lets through (entries evicted or replaced before they expired leave). */
    retain: (keep: (expiry: Expiry) => boolean) => {
      heap = heap.filter(keep)
      for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i)
    }
  }
}
