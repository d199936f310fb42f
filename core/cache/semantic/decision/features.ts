import { type Analysis, MAX_VERIFIED_CHARS, type PairSignals, pairSignals, verdictOf } from "../SemanticVerifier.ts"

/**
 * What the learned decision reads about a pair (question, cached question) besides their vectors: the verifier's
 * checks as signals rather than rules, and a few lexical measures. Training (`npm run train:l1b`) and the gateway
 * compute them with this one function, so a change here needs new weights (a test says so).
 */
export const LEXICAL_FEATURES = [
  "content_jaccard",
  "content_overlap",
  "numbers_differ",
  "code_names_differ",
  "proper_names_differ",
  "negation_differs",
  "length_difference",
  "same_first_word",
  "verifier_accepts"
] as const

/**
 * The direction each lexical feature may move the score (+1: more of it never lowers the score; −1: never raises
 * it). Training keeps the scorer monotone in them and in the cosine, so a closer rewording never scores below a
 * looser one — whatever quirks the training pairs have (Quora's hard negatives are often near-identical texts).
 */
export const LEXICAL_SIGNS = [1, 1, -1, -1, -1, -1, -1, 1, 1] as const

/** Each feature's sign in `set`'s layout: 0 for the vector features, which may move the score either way. */
export const featureSigns = (dimensions: number, set: FeatureSet): Array<number> => [
  ...(set === "vectors" ? new Array<number>(2 * dimensions).fill(0) : []),
  1,
  ...LEXICAL_SIGNS
]

const lengthDifference = (a: Analysis, b: Analysis) => {
  const longer = Math.max(a.words.length, b.words.length)
  return longer === 0 ? 0 : Math.abs(a.words.length - b.words.length) / longer
}

/**
 * Writes the lexical features of (a, b) into `out` from `offset`; symmetric in a and b. `signals` are
 * `pairSignals(a, b)`, worked out once per pair by the caller.
 */
export const writeLexicalFeatures = (
  a: Analysis,
  b: Analysis,
  signals: PairSignals,
  cosine: number,
  out: Float32Array,
  offset: number
) => {
  out[offset] = signals.jaccard
  out[offset + 1] = signals.overlap
  out[offset + 2] = signals.numbersDiffer ? 1 : 0
  out[offset + 3] = signals.codeNamesDiffer ? 1 : 0
  out[offset + 4] = signals.properNamesDiffer ? 1 : 0
  out[offset + 5] = signals.negationDiffers ? 1 : 0
  out[offset + 6] = lengthDifference(a, b)
  out[offset + 7] = a.words[0] !== undefined && a.words[0] === b.words[0] ? 1 : 0
  // The verifier reads nothing longer (and accepts nothing longer): what `verify` says of such a pair.
  out[offset + 8] = a.verifiable && b.verifiable && verdictOf(a, b, signals, cosine).accept ? 1 : 0
}

/**
 * Which features the scorer reads: `vectors` — |u − v| and u ∘ v of the two vectors, their cosine and the lexical
 * features (most precise on the training distribution); `compact` — the cosine and the lexical features only (fewer
 * inputs to overfit a question style with).
 */
export type FeatureSet = "vectors" | "compact"

/**
 * What no score overrides: the two questions name different numbers, different names in code, or one is negated
 * and the other not ("… in 2024" / "… in 2025"). The training pairs rarely differ so, so the scorer alone would
 * weigh them lightly; a cache that serves last year's answer for this year's question is wrong however close the
 * wording. The verifier's other checks (proper names, shared words) are the scorer's to weigh.
 */
export const refused = (signals: PairSignals): boolean =>
  signals.numbersDiffer || signals.codeNamesDiffer || signals.negationDiffers

/** The number of features of a pair of `dimensions`-d vectors. */
export const featureCount = (dimensions: number, set: FeatureSet) =>
  (set === "vectors" ? 2 * dimensions : 0) + 1 + LEXICAL_FEATURES.length

/** The features of a pair, in `set`'s layout. Symmetric, so the decision does not depend on which side was cached. */
export const pairFeatures = (
  u: Float32Array,
  v: Float32Array,
  a: Analysis,
  b: Analysis,
  set: FeatureSet,
  out: Float32Array = new Float32Array(featureCount(u.length, set)),
  signals: PairSignals = pairSignals(a, b)
): Float32Array => {
  const d = u.length
  let cosine = 0
  if (set === "compact") {
    for (let i = 0; i < d; i++) cosine += u[i]! * v[i]!
    return compactFeatures(cosine, a, b, out, signals)
  }
  for (let i = 0; i < d; i++) {
    const x = u[i]!
    const y = v[i]!
    out[i] = Math.abs(x - y)
    out[d + i] = x * y
    cosine += x * y
  }
  out[2 * d] = cosine
  writeLexicalFeatures(a, b, signals, cosine, out, 2 * d + 1)
  return out
}

/** The `compact` features of a pair whose cosine is known (the index returns it): no vector needed. */
export const compactFeatures = (
  cosine: number,
  a: Analysis,
  b: Analysis,
  out: Float32Array,
  signals: PairSignals = pairSignals(a, b)
): Float32Array => {
  out[0] = cosine
  writeLexicalFeatures(a, b, signals, cosine, out, 1)
  return out
}
