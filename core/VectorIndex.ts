import { Context, Layer } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"

export interface Neighbour {
  readonly label: number
  /** Cosine similarity (vectors are normalised, so 1 − inner-product distance). */
  readonly similarity: number
}

const M = 16
// 100, not the usual 200: cheaper inserts; measured recall@1 0.9975 against brute force (9k USE-lite vectors, 400 queries).
const EF_CONSTRUCTION = 100
const EF_SEARCH = 64

/**
 * Nearest-neighbour search over normalised vectors: an HNSW graph (`hnswlib-wasm`, inner product). Labels are
 * chosen by the caller; a removed label's slot is reused by the next insert, so the graph never outgrows the
 * cache it serves.
 */
export class VectorIndex extends Context.Service<VectorIndex, {
  readonly add: (label: number, vector: Float32Array) => void
  readonly remove: (label: number) => void
  /** The `k` nearest live vectors that `accept` lets through, most similar first. */
  readonly search: (vector: Float32Array, k: number, accept: (label: number) => boolean) => Array<Neighbour>
  readonly size: () => number
}>()("isartor/VectorIndex") {
  static readonly make = (hnswlib: HnswlibModule, dimensions: number, capacity: number) => {
    const index = new hnswlib.HierarchicalNSW("ip", dimensions, "")
    let maxElements = Math.max(16, capacity)
    index.initIndex(maxElements, M, EF_CONSTRUCTION, 100)
    index.setEfSearch(EF_SEARCH)
    const live = new Set<number>()
    return VectorIndex.of({
      add: (label, vector) => {
        if (live.size + 1 > maxElements) {
          maxElements *= 2
          index.resizeIndex(maxElements)
        }
        index.addPoint(vector, label, true)
        live.add(label)
      },
      remove: (label) => {
        if (!live.delete(label)) return
        index.markDelete(label)
      },
      search: (vector, k, accept) => {
        if (live.size === 0) return []
        const result = index.searchKnn(vector, Math.min(k, live.size), accept)
        return result.neighbors.map((label, i) => ({ label, similarity: 1 - result.distances[i]! }))
      },
      size: () => live.size
    })
  }

  static readonly layer = (hnswlib: HnswlibModule, dimensions: number, capacity: number) =>
    Layer.sync(VectorIndex, () => VectorIndex.make(hnswlib, dimensions, capacity))
}
