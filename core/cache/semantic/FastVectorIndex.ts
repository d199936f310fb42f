import { Context, Layer } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import { VectorIndex } from "./VectorIndex.ts"

/**
 * The index of L1b's first stage: the same labels as `VectorIndex`, holding vectors of the fast (static) encoder,
 * so a close rephrasing is found without waiting for the full model.
 */
export class FastVectorIndex
  extends Context.Service<FastVectorIndex, VectorIndex["Service"]>()("isartor/FastVectorIndex")
{
  static readonly layer = (hnswlib: HnswlibModule, dimensions: number, capacity: number) =>
    Layer.sync(FastVectorIndex, () => FastVectorIndex.of(VectorIndex.make(hnswlib, dimensions, capacity)))
}
