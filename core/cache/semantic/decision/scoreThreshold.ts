import { shippedDecision } from "./weights.ts"

/**
 * The learned decision's cut when `l1b_score_threshold` is unset and a false-hit budget decides (`l1b_error_budget`
 * under 1). The shipped cut was chosen for precision with nothing behind it; under a budget every would-be hit is
 * still held to the budget's bound per score region, so a lower cut only gives the budget more would-be hits to
 * choose from and to label (bench/README.md, the semantic stream: hit rate up at every budget, false-hit rate
 * within budget + 0.01 on both files).
 */
export const BUDGETED_SCORE_THRESHOLD = 0.1

/** The score a candidate needs: the operator's setting, else the budget's cut, else the shipped model's. */
export const scoreThresholdOf = (
  settings: { readonly l1b_score_threshold?: number | undefined; readonly l1b_error_budget: number }
): number =>
  settings.l1b_score_threshold ??
    (settings.l1b_error_budget < 1 ? BUDGETED_SCORE_THRESHOLD : shippedDecision.threshold)
