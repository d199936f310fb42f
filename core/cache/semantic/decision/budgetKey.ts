/**
 * What the false-hit budget (./ErrorBudget.ts) bands a would-be hit by: the decision's confidence in it, in 0–1 —
 * its score blended with its margin over the runner-up, the best other candidate the decision checked. A would-be
 * hit with a close rival is far more often wrong than its score alone says (a paraphrase that sits between two
 * cached questions); replayed offline with the truth known (`npm run bench:semantic -- --oracle`), the margin is
 * what tells right from wrong where the score barely does. Each decision scales its own scores into the key.
 */

/** How much the margin weighs beside the score: the oracle's blends gained little beyond it. */
const MARGIN_WEIGHT = 2

const clamped = (key: number) => Math.max(0, Math.min(1, key))

/** The learned decision's key: its score (0–1) and the runner-up's score (0 when there is none). */
export const learnedKey = (score: number, runnerUp: number): number =>
  clamped((score + MARGIN_WEIGHT * (score - runnerUp)) / (1 + MARGIN_WEIGHT))

/**
 * The cosine decision's key: its cosines live near the top of the scale (the threshold and up), so the key is
 * offset to spread them over the budget's score regions; the runner-up's cosine may be above the hit's (a closer
 * candidate the verifier turned down), which lowers the key.
 */
export const cosineKey = (similarity: number, runnerUp: number): number =>
  clamped(similarity - 0.5 + MARGIN_WEIGHT * (similarity - runnerUp))
