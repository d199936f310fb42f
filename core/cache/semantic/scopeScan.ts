/**
 * A scope of at most this many entries keeps its vectors out of the graphs and is searched by reading them all:
 * exact, and as cheap as a graph search at this size. In the shared graph, hnswlib's filtered search walks until it
 * has found enough of the scope's own entries, so a small scope beside a large one cost a walk through most of the
 * graph, a call out of WASM per node; and a scope's first entries cost no call into WASM at all.
 */
export const SCAN_LIMIT = 256

/** A scope's live entries, and while it is small, their vectors (it joins the graphs past `SCAN_LIMIT`). */
export interface ScopeEntries {
  count: number
  vectors: Map<number, Float32Array> | undefined
  fastVectors: Map<number, Float32Array> | undefined
}

/** The `k` most similar of `vectors` to `query` (inner product of normalised vectors), most similar first. */
export const scanNearest = (
  vectors: ReadonlyMap<number, Float32Array>,
  query: Float32Array,
  k: number
): Array<{ readonly label: number; readonly similarity: number }> => {
  const nearest: Array<{ label: number; similarity: number }> = []
  const length = query.length
  for (const [label, vector] of vectors) {
    if (vector.length !== length) continue
    let similarity = 0
    for (let i = 0; i < length; i++) similarity += vector[i]! * query[i]!
    if (nearest.length === k && similarity <= nearest[k - 1]!.similarity) continue
    let at = nearest.length === k ? k - 1 : nearest.length
    if (nearest.length < k) nearest.push({ label, similarity })
    while (at > 0 && nearest[at - 1]!.similarity < similarity) {
      nearest[at] = nearest[at - 1]!
      at--
    }
    nearest[at] = { label, similarity }
  }
  return nearest
}
