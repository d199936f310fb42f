import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { cosineKey, learnedKey } from "../../../core/cache/semantic/decision/budgetKey.ts"

const scores = Array.from({ length: 21 }, (_, i) => i / 20)

describe("the key the false-hit budget bands a would-be hit by", () => {
  it("a close rival lowers it: the same score with a nearer runner-up never keys higher", () => {
    for (const score of scores) {
      for (const runnerUp of scores.filter((value) => value <= score)) {
        assert.ok(learnedKey(score, runnerUp) <= learnedKey(score, Math.max(0, runnerUp - 0.05)))
      }
    }
    assert.ok(cosineKey(0.9, 0.9) < cosineKey(0.9, 0.8))
    // A closer candidate the verifier turned down is a rival too.
    assert.ok(cosineKey(0.9, 0.95) < cosineKey(0.9, 0.9))
  })

  it("a higher score with the same rival never keys lower, and every key is a fraction", () => {
    for (const runnerUp of scores) {
      for (const score of scores.filter((value) => value >= runnerUp)) {
        assert.ok(learnedKey(score, runnerUp) <= learnedKey(Math.min(1, score + 0.05), runnerUp))
        for (const key of [learnedKey(score, runnerUp), cosineKey(score, runnerUp), cosineKey(runnerUp, score)]) {
          assert.ok(key >= 0 && key <= 1)
        }
      }
    }
    assert.ok(Math.abs(learnedKey(0.7, 0) - 0.7) < 1e-9, "alone, a candidate keys at its score")
  })
})
