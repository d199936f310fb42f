import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { BUDGETED_SCORE_THRESHOLD, scoreThresholdOf } from "../../../core/cache/semantic/decision/scoreThreshold.ts"
import { shippedDecision } from "../../../core/cache/semantic/decision/weights.ts"
import { l1bSettingsLine } from "../../../core/cache/semantic/semanticLayer.ts"
import { loadConfig } from "../../../core/config/Config.ts"

describe("the learned decision's score threshold", () => {
  it("unset under a false-hit budget, it is the budget's lower cut: more would-be hits for the budget to hold", () => {
    for (const budget of [0.02, 0.05, 0.1, 0.5]) {
      assert.equal(scoreThresholdOf({ l1b_score_threshold: undefined, l1b_error_budget: budget }), 0.1)
    }
    assert.ok(BUDGETED_SCORE_THRESHOLD < shippedDecision.threshold)
  })

  it("unset with no budget (l1b_error_budget = 1), it is the shipped model's precision-first cut", () => {
    assert.equal(scoreThresholdOf({ l1b_score_threshold: undefined, l1b_error_budget: 1 }), shippedDecision.threshold)
  })

  it("an operator's setting governs under every budget, a cut of 0 included", () => {
    for (const budget of [0.05, 1]) {
      assert.equal(scoreThresholdOf({ l1b_score_threshold: 0.3, l1b_error_budget: budget }), 0.3)
      assert.equal(scoreThresholdOf({ l1b_score_threshold: 0, l1b_error_budget: budget }), 0)
    }
  })
})

describe("what start-up and `isartor doctor` say governs the learned decision", () => {
  const lineFor = async (env: Record<string, string>) => {
    const { config } = await Effect.runPromise(loadConfig({ env, readTextFile: async () => undefined }))
    return l1bSettingsLine(config, true)
  }

  it("names the cut in force: 0.1 unset under the default budget, the model's without one, else the setting", async () => {
    assert.match(await lineFor({}), /l1b_score_threshold = 0\.1 \(unset\)/)
    assert.match(
      await lineFor({ ISARTOR__L1B_ERROR_BUDGET: "1" }),
      new RegExp(`l1b_score_threshold = ${shippedDecision.threshold} \\(unset\\)`)
    )
    const set = await lineFor({ ISARTOR__L1B_SCORE_THRESHOLD: "0.3" })
    assert.match(set, /l1b_score_threshold = 0\.3 and/)
  })
})
