import { Context, Effect, Layer } from "effect"
import { CacheKey } from "../cache/CacheKey.ts"
import { AppConfig } from "../config/Config.ts"
import { firstText } from "../domain/Completion.ts"
import type { LayerUnavailable } from "../domain/errors.ts"
import type { Classification, Tier } from "../domain/routing.ts"
import { Embedder } from "../embedding/Embedder.ts"
import { vectorFromBase64 } from "../embedding/vectorCodec.ts"
import { LocalModel } from "./LocalModel.ts"
import { type LabelledPrompt, labelledPrompts } from "./prompts.ts"
import { probabilities, type SoftmaxModel, train } from "./softmax.ts"
import { shippedClassifiers } from "./weights.ts"

export type ClassifierMode = "tiered" | "binary"

export const TIERED_PROMPT = "Classify the user's request for a code assistant. Reply with exactly one word:\n" +
  "TEMPLATE - config files, type definitions, documentation, boilerplate;\n" +
  "SNIPPET - one short function, simple middleware, under 50 lines;\n" +
  "COMPLEX - multi-file implementations, test suites, full endpoints, anything else."
export const BINARY_PROMPT = "Classify the user's request. Reply with exactly one word:\n" +
  "SIMPLE - a short factual answer, a template or a small snippet a small model can write well;\n" +
  "COMPLEX - anything that needs deep reasoning, long code or several steps."

/** The tiers of each mode. */
export const classesFor = (mode: ClassifierMode): ReadonlyArray<Tier> =>
  mode === "tiered" ? ["TEMPLATE", "SNIPPET", "COMPLEX"] : ["SIMPLE", "COMPLEX"]

/** Reads the tier from a small model's reply, whatever its case, punctuation or extra words; unsure means COMPLEX. */
export const parseTier = (reply: string, mode: ClassifierMode): Tier => {
  const words = reply.toUpperCase().match(/[A-Z]+/g) ?? []
  const allowed = classesFor(mode)
  return (words.find((word) => allowed.includes(word as Tier)) as Tier | undefined) ?? "COMPLEX"
}

/** The labels a prompt of the training set has in each mode. */
export const labelFor = (prompt: LabelledPrompt, mode: ClassifierMode): Tier =>
  mode === "tiered" ? prompt.tier : prompt.tier === "COMPLEX" ? "COMPLEX" : "SIMPLE"

/** Identifies a version of the labelled set: shipped weights are used only for the set they were trained on. */
export const datasetDigest = (digest: (value: unknown) => string) =>
  digest(labelledPrompts.map((prompt) => [prompt.tier, prompt.text]))

/** Trains the embedding classifier for one mode on vectors of the labelled set (in its order). */
export const trainClassifier = (
  vectors: ReadonlyArray<Float32Array>,
  mode: ClassifierMode,
  prompts: ReadonlyArray<LabelledPrompt> = labelledPrompts
) => train(vectors, prompts.map((prompt) => labelFor(prompt, mode)), classesFor(mode))

/**
 * The embedding classifier's decision: a local answer is tried only when the simple classes together are at least
 * `minConfidence` likely (`1 - P(COMPLEX)`), and then the likeliest simple class names the tier.
 */
export const decide = (
  model: SoftmaxModel,
  vector: Float32Array,
  minConfidence: number
): { tier: Tier; confidence: number } => {
  const p = probabilities(model, vector)
  const complex = model.classes.indexOf("COMPLEX")
  const local = 1 - p[complex]!
  if (local < minConfidence) return { tier: "COMPLEX", confidence: p[complex]! }
  const best = p.reduce((top, value, c) => (c !== complex && (top === -1 || value > p[top]!) ? c : top), -1)
  return { tier: model.classes[best] as Tier, confidence: local }
}

/**
 * Decides the tier of an L2 request. `model`: the small model answers a short deterministic prompt (temperature 0,
 * 5 tokens). `embedding`: logistic regression over the prompt's embedding (the vector L1b already computed), so
 * no model call is made to classify and COMPLEX requests never wait on the small model.
 */
export class Classifier extends Context.Service<Classifier, {
  readonly kind: "model" | "embedding"
  readonly classify: (text: string) => Effect.Effect<Classification, LayerUnavailable>
}>()("isartor/Classifier") {
  static readonly layerModel = Layer.effect(
    Classifier,
    Effect.gen(function*() {
      const { layer2 } = yield* AppConfig
      const model = yield* LocalModel
      const mode = layer2.classifier_mode
      return Classifier.of({
        kind: "model",
        classify: (text) =>
          model.chat({
            temperature: 0,
            maxTokens: 5,
            messages: [{ role: "system", content: mode === "tiered" ? TIERED_PROMPT : BINARY_PROMPT }, {
              role: "user",
              content: text
            }]
          }).pipe(Effect.map((reply): Classification => ({ tier: parseTier(firstText(reply), mode), by: "model" })))
      })
    })
  )

  static readonly layerEmbedding = Layer.effect(
    Classifier,
    Effect.gen(function*() {
      const { layer2 } = yield* AppConfig
      const embedder = yield* Embedder
      const { digest } = yield* CacheKey
      const mode = layer2.classifier_mode
      const shipped = shippedClassifiers[mode]
      // Weights trained offline ship for the default encoder; any other encoder trains here, once, at start-up.
      const model: SoftmaxModel =
        shippedClassifiers.model === embedder.model && shippedClassifiers.dataset === datasetDigest(digest)
          ? { classes: classesFor(mode), dimensions: embedder.dimensions, weights: vectorFromBase64(shipped) }
          : yield* Effect.gen(function*() {
            const vectors = yield* Effect.forEach(labelledPrompts, (prompt) => embedder.embed(prompt.text), {
              concurrency: "unbounded"
            })
            return trainClassifier(vectors, mode)
          }).pipe(Effect.orDie)
      return Classifier.of({
        kind: "embedding",
        classify: (text) =>
          embedder.embed(text).pipe(
            Effect.map((vector): Classification => ({
              ...decide(model, vector, layer2.classifier_min_confidence),
              by: "embedding"
            }))
          )
      })
    })
  )
}
