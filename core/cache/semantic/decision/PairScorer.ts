import { vectorFromBase64 } from "../../../embedding/vectorCodec.ts"
import { type Analysis, pairSignals } from "../SemanticVerifier.ts"
import { compactFeatures, featureCount, type FeatureSet, pairFeatures, refused } from "./features.ts"

/** A trained decision as `npm run train:l1b` writes it (see ./weights.ts). */
export interface DecisionModel {
  /** A digest of the weights: entries record it, a change of it is logged. */
  readonly version: string
  /** The encoder whose vectors it was trained on: `<name>/<table digest>`. */
  readonly encoder: string
  readonly dimensions: number
  /** The features it reads (./features.ts). */
  readonly features: FeatureSet
  readonly hidden: number
  /** Score at or above which a candidate is served, chosen on the validation split for precision first. */
  readonly threshold: number
  /** Candidates less similar than this cosine are not scored (none of the validation split's hits were). */
  readonly cosineFloor: number
  /** float32, base64: W1 (hidden × features, input standardisation folded in), b1, w2, b2. */
  readonly weights: string
}

export interface PairScorer {
  readonly model: DecisionModel
  /**
   * The probability-like score that the cached question answers the question: a two-layer perceptron over the
   * pair's features; 0 for a pair `refused` (./features.ts) whatever its features. `cached` gives the cached question's vector; only the `vectors` feature set reads it.
   */
  readonly score: (pair: ScoredPair) => number
}

export interface ScoredPair {
  readonly cosine: number
  readonly question: Float32Array
  readonly questionText: Analysis
  readonly cached: () => Float32Array | undefined
  readonly cachedText: Analysis
}

/** Pure TypeScript inference, the same on every runtime: microseconds a candidate. */
export const makePairScorer = (model: DecisionModel): PairScorer => {
  const inputs = featureCount(model.dimensions, model.features)
  const hidden = model.hidden
  const all = vectorFromBase64(model.weights)
  if (all.length !== hidden * inputs + 2 * hidden + 1) {
    throw new Error(`the decision model's weights hold ${all.length} numbers, not ${hidden * inputs + 2 * hidden + 1}`)
  }
  const w1 = all.subarray(0, hidden * inputs)
  const b1 = all.subarray(hidden * inputs, hidden * inputs + hidden)
  const w2 = all.subarray(hidden * inputs + hidden, hidden * inputs + 2 * hidden)
  const b2 = all[all.length - 1]!
  const features = new Float32Array(inputs)
  return {
    model,
    score: (pair) => {
      // Worked out once: the refusal, the features and the verifier's verdict all read them.
      const signals = pairSignals(pair.questionText, pair.cachedText)
      if (refused(signals)) return 0
      if (model.features === "compact") {
        compactFeatures(pair.cosine, pair.questionText, pair.cachedText, features, signals)
      } else {
        const cached = pair.cached()
        if (!cached) return 0
        pairFeatures(pair.question, cached, pair.questionText, pair.cachedText, model.features, features, signals)
      }
      let out = b2
      for (let h = 0; h < hidden; h++) {
        let sum = b1[h]!
        const row = h * inputs
        for (let i = 0; i < inputs; i++) sum += w1[row + i]! * features[i]!
        if (sum > 0) out += w2[h]! * sum
      }
      return 1 / (1 + Math.exp(-out))
    }
  }
}
