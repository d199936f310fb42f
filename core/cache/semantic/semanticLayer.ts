import { Layer } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import type { EmbeddingBackend } from "../../embedding/Embedder.ts"
import type { RedisCommands } from "../../redis/RedisCommands.ts"
import { PairDecision } from "./decision/PairDecision.ts"
import { shippedDecision } from "./decision/weights.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { SharedSemanticStore } from "./RedisSemanticStore.ts"
import { SemanticCache } from "./SemanticCache.ts"
import { VectorIndex } from "./VectorIndex.ts"

/** Whether L1b decides by the shipped learned decision: asked for, and the encoder is the one it was trained on. */
export const decidesByLearning = (config: AppConfigShape, embedder: EmbeddingBackend) => {
  const stage = embedder.fastStage
  return config.l1b_decision === "learned" && embedder.fast !== undefined && stage !== undefined &&
    stage.encoder === shippedDecision.encoder && stage.dimensions === shippedDecision.dimensions
}

/**
 * L1b wired for this configuration and encoder: the learned decision over the fast encoder's vectors (one HNSW
 * graph of them), or the cosine decision over the model's vectors with the fast stage's own graph in front.
 */
export const semanticCacheLayer = (
  config: AppConfigShape,
  semantic: { readonly embedder: EmbeddingBackend; readonly hnswlib: HnswlibModule },
  redis?: RedisCommands
) => {
  const { embedder, hnswlib } = semantic
  const capacity = config.cache_max_capacity
  const shared = redis ? SharedSemanticStore.layer(redis) : Layer.empty
  if (decidesByLearning(config, embedder)) {
    return SemanticCache.layer.pipe(Layer.provide(Layer.mergeAll(
      VectorIndex.layer(hnswlib, shippedDecision.dimensions, capacity),
      PairDecision.layer(shippedDecision),
      shared
    )))
  }
  return SemanticCache.layer.pipe(Layer.provide(Layer.mergeAll(
    VectorIndex.layer(hnswlib, embedder.dimensions, capacity),
    // The first stage, for an encoder with a fast distillation (USE-lite), unless turned off.
    embedder.fast && config.semantic_fast_threshold < 1
      ? FastVectorIndex.layer(hnswlib, embedder.fastStage?.dimensions ?? embedder.dimensions, capacity)
      : Layer.empty,
    shared
  )))
}
