import { Context, Layer } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"

export interface Neighbour {
  readonly label: number
  /** Cosine similarity (vectors are normalised, so 1 − inner-product distance). */
  readonly similarity: number
}

// 8, 24 and 24 (were 16, 48 and 40): over the 128-d fast vectors, an L1b miss of `npm run bench:l1b`'s kind (new
// prompts that differ by a number) costs 0.29 + 0.09 ms in process at 30k entries instead of 0.38 + 0.16 (lookup +
// insert, Bun); `npm run bench:semantic` on the held-out Quora split serves 546 correct / 374 false instead of
// 565 / 388 (the same precision, 2 points less of the paraphrases), GPTCache 673 / 28 instead of 675 / 28. Most
// of a search is the vector's way into WASM (an embind call per number) and the distances, not the graph's size.
const M = 8
const EF_CONSTRUCTION = 24
const EF_SEARCH = 24

/**
 * Nearest-neighbour search over normalised vectors: an HNSW graph (`hnswlib-wasm`, inner product). Labels are
 * chosen by the caller, who reuses the labels it removed: a removed label's slot is then taken over in place, so
 * the graph holds no more slots than the most labels ever live at once.
 */
export class VectorIndex extends Context.Service<VectorIndex, {
  /** Throws when the graph refuses the vector (hnswlib's own errors); the label is then not live. */
  readonly add: (label: number, vector: Float32Array) => void
  readonly remove: (label: number) => void
  /** The `k` nearest live vectors that `accept` lets through (all, without it), most similar first. */
  readonly search: (vector: Float32Array, k: number, accept?: (label: number) => boolean) => Array<Neighbour>
  /** The vector stored under a live label (a copy). */
  readonly vector: (label: number) => Float32Array | undefined
  readonly size: () => number
  /** Slots the graph holds, live and removed: what its memory follows. */
  readonly slots: () => number
  /** Slots the graph has allocated room for. */
  readonly allocated: () => number
}>()("isartor/VectorIndex") {
  static readonly make = (hnswlib: HnswlibModule, dimensions: number, capacity: number) => {
    const index = new hnswlib.HierarchicalNSW("ip", dimensions, "")
    // Two slots more than the cache holds: a new entry takes its label before the LRU frees one, so labels reach
    // capacity + 1, and hnswlib-wasm refuses every addPoint once its count (removed slots included) reaches the
    // maximum, even one that would only update a slot in place. With less, the graph would double its allocation.
    let maxElements = Math.max(16, capacity + 2)
    index.initIndex(maxElements, M, EF_CONSTRUCTION, 100)
    index.setEfSearch(EF_SEARCH)
    const live = new Set<number>()
    const removed = new Set<number>()
    const makeRoom = () => {
      if (index.getCurrentCount() < maxElements) return
      maxElements *= 2
      index.resizeIndex(maxElements)
    }
    return VectorIndex.of({
      add: (label, vector) => {
        makeRoom()
        if (removed.has(label)) {
          // hnswlib's own slot replacement (`replaceDeleted`) is not used: it moves a label to another removed slot
          // and later drops the label's lookup entry when that slot is replaced again. Updating the label's own slot
          // keeps one slot per label.
          index.unmarkDelete(label)
          try {
            index.addPoint(vector, label, false)
          } catch (error) {
            index.markDelete(label)
            throw error
          }
          removed.delete(label)
        } else {
          index.addPoint(vector, label, false)
        }
        live.add(label)
      },
      remove: (label) => {
        if (!live.delete(label)) return
        index.markDelete(label)
        removed.add(label)
      },
      search: (vector, k, accept) => {
        if (live.size === 0) return []
        const result = index.searchKnn(vector, Math.min(k, live.size), accept)
        return result.neighbors.map((label, i) => ({ label, similarity: 1 - result.distances[i]! }))
      },
      vector: (label) => {
        if (!live.has(label)) return undefined
        const point = index.getPoint(label)
        return point instanceof Float32Array ? point : Float32Array.from(point)
      },
      size: () => live.size,
      slots: () => index.getCurrentCount(),
      allocated: () => maxElements
    })
  }

  static readonly layer = (hnswlib: HnswlibModule, dimensions: number, capacity: number) =>
    Layer.sync(VectorIndex, () => VectorIndex.make(hnswlib, dimensions, capacity))
}
