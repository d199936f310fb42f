/**
 * Multinomial logistic regression over sentence embeddings: the in-process L2 classifier. Small enough to train in
 * a second or two on a few hundred labelled prompts (full-batch gradient descent, L2-regularised), and to apply in
 * microseconds: one dot product per class.
 */
export interface SoftmaxModel {
  readonly classes: ReadonlyArray<string>
  readonly dimensions: number
  /** Row per class: `dimensions` weights, then the bias. */
  readonly weights: Float32Array
}

export interface TrainOptions {
  readonly iterations?: number
  readonly learningRate?: number
  readonly l2?: number
}

const logits = (model: SoftmaxModel, vector: Float32Array) => {
  const { dimensions: d, weights } = model
  return model.classes.map((_, c) => {
    const row = c * (d + 1)
    let sum = weights[row + d]!
    for (let j = 0; j < d; j++) sum += weights[row + j]! * vector[j]!
    return sum
  })
}

/** Class probabilities for one (normalised) embedding, in the order of `model.classes`. */
export const probabilities = (model: SoftmaxModel, vector: Float32Array): Array<number> => {
  const z = logits(model, vector)
  const max = Math.max(...z)
  const exp = z.map((value) => Math.exp(value - max))
  const total = exp.reduce((a, b) => a + b, 0)
  return exp.map((value) => value / total)
}

export const train = (
  vectors: ReadonlyArray<Float32Array>,
  labels: ReadonlyArray<string>,
  classes: ReadonlyArray<string>,
  options: TrainOptions = {}
): SoftmaxModel => {
  const { iterations = 300, learningRate = 0.5, l2 = 1e-3 } = options
  const d = vectors[0]!.length
  const k = classes.length
  const targets = labels.map((label) => classes.indexOf(label))
  if (targets.includes(-1)) throw new Error(`a label is not one of ${classes.join(", ")}`)
  const model: SoftmaxModel = { classes, dimensions: d, weights: new Float32Array(k * (d + 1)) }
  const gradient = new Float64Array(k * (d + 1))
  for (let iteration = 0; iteration < iterations; iteration++) {
    gradient.fill(0)
    vectors.forEach((vector, i) => {
      const p = probabilities(model, vector)
      for (let c = 0; c < k; c++) {
        const error = p[c]! - (targets[i] === c ? 1 : 0)
        const row = c * (d + 1)
        for (let j = 0; j < d; j++) gradient[row + j]! += error * vector[j]!
        gradient[row + d]! += error
      }
    })
    for (let c = 0; c < k; c++) {
      const row = c * (d + 1)
      for (let j = 0; j <= d; j++) {
        const decay = j < d ? l2 * model.weights[row + j]! : 0
        model.weights[row + j]! -= learningRate * (gradient[row + j]! / vectors.length + decay)
      }
    }
  }
  return model
}
