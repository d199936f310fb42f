import { Effect, Layer } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import type { EmbeddingBackend } from "../../embedding/Embedder.ts"
import type { RedisCommands } from "../../redis/RedisCommands.ts"
import { PairDecision } from "./decision/PairDecision.ts"
import { scoreThresholdOf } from "./decision/scoreThreshold.ts"
import { shippedDecision } from "./decision/weights.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import { SharedSemanticStore } from "./RedisSemanticStore.ts"
import { COSINE_THRESHOLD, SemanticCache } from "./SemanticCache.ts"
import { VectorIndex } from "./VectorIndex.ts"

/** Whether L1b decides by the shipped learned decision: asked for, and the encoder is the one it was trained on. */
export const decidesByLearning = (config: AppConfigShape, embedder: EmbeddingBackend) => {
  const stage = embedder.fastStage
  return config.l1b_decision === "learned" && embedder.fast !== undefined && stage !== undefined &&
    stage.encoder === shippedDecision.encoder && stage.dimensions === shippedDecision.dimensions
}

/**
 * Which settings decide an L1b hit, and their values, in one line: said at start-up and by `isartor doctor`, so an
 * operator turns the knob that governs. `learned`: whether the learned decision decides (the encoder allows it).
 */
export const l1bSettingsLine = (config: AppConfigShape, learned: boolean): string => {
  if (config.cache_mode === "exact") return "L1b off (cache_mode = exact)"
  const budget = config.l1b_error_budget >= 1
    ? "; no false-hit budget (l1b_error_budget = 1)"
    : `; then only within l1b_error_budget = ${config.l1b_error_budget} (the share of L1b answers that may be wrong, learnt from checked hits: nothing is served before some are checked)`
  return decisionLine(config, learned) + budget
}

const decisionLine = (config: AppConfigShape, learned: boolean): string => {
  const floor = config.similarity_threshold === undefined
    ? `similarity_threshold unset: the decision's floor ${learned ? shippedDecision.cosineFloor : COSINE_THRESHOLD}`
    : `similarity_threshold = ${config.similarity_threshold}`
  if (learned) {
    return `L1b decides by the learned decision ${shippedDecision.version}: a candidate is served when its score reaches l1b_score_threshold = ${
      scoreThresholdOf(config)
    }${config.l1b_score_threshold === undefined ? " (unset)" : ""} and its cosine reaches ${floor}`
  }
  const why = config.l1b_decision === "cosine" ? "l1b_decision = cosine" : `${config.embedding_model} encoder`
  return `L1b decides by cosine (${why}): a candidate is served when the model's cosine reaches ${floor} and the verifier accepts it${
    config.semantic_fast_threshold < 1
      ? `; the fast stage when its cosine reaches semantic_fast_threshold = ${config.semantic_fast_threshold}`
      : ""
  }`
}

/** Whether the learned decision would decide, from the configuration alone (the doctor loads no gateway). */
export const configDecidesByLearning = (config: AppConfigShape) =>
  config.l1b_decision === "learned" && config.embedding_model === "use-lite" && config.embedding_model_path === ""

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
  const learned = decidesByLearning(config, embedder)
  const said = Layer.effectDiscard(Effect.logInfo(l1bSettingsLine(config, learned)))
  if (learned) {
    return SemanticCache.layer.pipe(
      Layer.provideMerge(said),
      Layer.provide(Layer.mergeAll(
        VectorIndex.layer(hnswlib, shippedDecision.dimensions, capacity),
        PairDecision.layer(shippedDecision),
        shared
      ))
    )
  }
  return SemanticCache.layer.pipe(
    Layer.provideMerge(said),
    Layer.provide(Layer.mergeAll(
      VectorIndex.layer(hnswlib, embedder.dimensions, capacity),
      // The first stage, for an encoder with a fast distillation (USE-lite), unless turned off.
      embedder.fast && config.semantic_fast_threshold < 1
        ? FastVectorIndex.layer(hnswlib, embedder.fastStage?.dimensions ?? embedder.dimensions, capacity)
        : Layer.empty,
      shared
    ))
  )
}
