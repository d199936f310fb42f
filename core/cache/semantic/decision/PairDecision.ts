import { Context, Layer } from "effect"
import { type DecisionModel, makePairScorer, type PairScorer } from "./PairScorer.ts"

/**
 * L1b's learned decision: present when the fast encoder is the one the shipped scorer was trained on and
 * `l1b_decision = learned`. Without it L1b decides by the model's cosine and the verifier.
 */
export class PairDecision extends Context.Service<PairDecision, PairScorer>()("isartor/PairDecision") {
  static readonly layer = (model: DecisionModel) => Layer.sync(PairDecision, () => makePairScorer(model))
}
