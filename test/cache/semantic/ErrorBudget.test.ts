import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { makeErrorBudget, STOPPED, wilsonUpper } from "../../../core/cache/semantic/decision/ErrorBudget.ts"
import { sameAnswer } from "../../../core/cache/semantic/decision/sameAnswer.ts"
import { bandOf } from "../../../core/cache/semantic/SemanticCache.ts"

const seeded = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648

/** The known curve: a would-be hit at score s is wrong with this probability (scores uniform on 0–1). */
const wrongAt = (score: number) => 0.6 * (1 - score) ** 2

/** The share of would-be hits an oracle that knows the curve serves under `budget`: all from the lowest cut. */
const oracleShare = (budget: number) => {
  for (let cut = 0; cut < 1; cut += 0.001) {
    let wrong = 0
    let count = 0
    for (let s = cut; s < 1; s += 0.0005) (wrong += wrongAt(s)), count++
    if (wrong / count <= budget) return 1 - cut
  }
  return 0
}

/** A stream of would-be hits, each of its own entry; withheld and explored ones are labelled by the truth. */
const runStream = (budget: number, length: number) => {
  const truth = seeded(7)
  const errorBudget = makeErrorBudget(seeded(11))
  const served: Array<{ readonly at: number; readonly wrong: boolean }> = []
  for (let at = 0; at < length; at++) {
    const score = truth()
    const wrong = truth() < wrongAt(score)
    const verdict = errorBudget.decide(`entry-${at}`, score, budget, "b")
    if (verdict._tag === "Serve") served.push({ at, wrong })
    else errorBudget.observe(`entry-${at}`, score, !wrong, "b")
  }
  return { served, status: errorBudget.status(budget) }
}

describe("L1b false-hit budget on a synthetic stream with a known curve", () => {
  for (const budget of [0.02, 0.05, 0.1]) {
    it(`keeps the served false-hit rate within ${budget} and serves a fair share of what it allows`, () => {
      const length = 20_000
      const { served, status } = runStream(budget, length)
      const secondHalf = served.filter((hit) => hit.at >= length / 2)
      const falseHitRate = secondHalf.filter((hit) => hit.wrong).length / secondHalf.length
      assert.ok(falseHitRate <= budget + 0.01, `served false-hit rate ${falseHitRate} over budget ${budget}`)
      const share = secondHalf.length / (length / 2)
      assert.ok(
        share >= 0.6 * oracleShare(budget),
        `served ${share} of would-be hits; an oracle serves ${oracleShare(budget)}`
      )
      assert.ok(status.false_hit_rate_upper_bound <= budget, "the bound it reports is within the budget")
      assert.ok(status.explored_hits / (status.served_hits + status.explored_hits) <= 0.1, "explores ≤ 10 %")
    })
  }

  it("serves nothing before it has observed anything (cold start), and serves once it has", () => {
    const budget = makeErrorBudget(() => 0.99)
    assert.equal(budget.decide("a", 0.99, 0.05, "b")._tag, "Withhold")
    for (let i = 0; i < 200; i++) {
      budget.decide(`e${i}`, 0.95, 0.05, "b")
      budget.observe(`e${i}`, 0.95, true, "b")
    }
    assert.equal(budget.decide("a", 0.95, 0.05, "b")._tag, "Serve")
    // A tighter budget asks for more evidence than 200 right answers give.
    assert.equal(budget.decide("a", 0.95, 0.001, "b")._tag, "Withhold")
  })

  it("never serves a score region whose own bound fails because cleaner regions below it would dilute it", () => {
    const budget = makeErrorBudget(() => 0.99)
    const label = (score: number, count: number, wrong: number) => {
      for (let i = 0; i < count; i++) budget.observe(`e${score}-${i}`, score, i >= wrong, "b")
    }
    label(0.95, 200, 0)
    // Half wrong: from here down the running bound fails...
    label(0.85, 40, 20)
    // ...until many right labels below bring the running rate back under the budget.
    label(0.75, 400, 0)
    assert.equal(budget.decide("a", 0.95, 0.05, "b")._tag, "Serve")
    assert.equal(budget.decide("a", 0.85, 0.05, "b")._tag, "Withhold", "the bad region")
    assert.equal(budget.decide("a", 0.75, 0.05, "b")._tag, "Withhold", "nor below it")
  })

  it("holds an entry to the best score it was wrong at, and a stopped entry never serves", () => {
    const budget = makeErrorBudget(() => 0.99)
    for (let i = 0; i < 200; i++) budget.observe(`e${i}`, 0.9, true, "b"), budget.decide(`e${i}`, 0.9, 0.05, "b")
    budget.observe("bad", 0.92, false, "b")
    assert.equal(budget.decide("bad", 0.91, 0.05, "b")._tag, "Withhold")
    assert.equal(budget.decide("bad", 0.95, 0.05, "b")._tag, "Serve")
    budget.stop("bad")
    assert.equal(budget.markOf("bad"), STOPPED)
    assert.equal(budget.decide("bad", 1, 0.05, "b")._tag, "Withhold")
    // Without a budget (1) the decision alone serves, but a stopped entry still does not.
    assert.equal(budget.decide("bad", 1, 1, "b")._tag, "Withhold")
    assert.equal(budget.decide("good", 0.1, 1, "b")._tag, "Serve")
  })

  it("bounds a rate by Wilson's interval", () => {
    assert.equal(wilsonUpper(0, 0), 1)
    assert.ok(wilsonUpper(0, 100) < 0.03 && wilsonUpper(0, 100) > 0.02)
    assert.ok(wilsonUpper(0.1, 1000) > 0.1 && wilsonUpper(0.1, 1000) < 0.12)
  })

  it("labels an answer the same only when no sign, symbol or operator differs", () => {
    const completion = (content: string) => JSON.stringify({ choices: [{ message: { content } }] })
    for (const [a, b] of [["-5", "5"], ["x > y", "x < y"], ["a == b", "a != b"], ["$5", "€5"], ["5!", "5"]]) {
      assert.equal(sameAnswer(completion(a!), completion(b!)), false, `${a} / ${b}`)
    }
    assert.ok(sameAnswer(completion("The answer is 42."), completion("the  answer is\n42")), "case, spacing, full stop")
    assert.ok(sameAnswer(completion("ｘ ＞ ｙ"), "x > y"), "Unicode forms (NFKC)")
  })

  it("keeps each scope's observations to itself: another tenant's right answers open no band for it", () => {
    const budget = makeErrorBudget(() => 0.99)
    for (let i = 0; i < 200; i++) {
      budget.decide(`e${i}`, 0.95, 0.05, "tenant-a"), budget.observe(`e${i}`, 0.95, true, "tenant-a")
    }
    assert.equal(budget.decide("a", 0.95, 0.05, "tenant-a")._tag, "Serve")
    assert.equal(budget.decide("b", 0.95, 0.05, "tenant-b")._tag, "Withhold", "a scope with nothing observed: cold")
    for (let i = 0; i < 200; i++) {
      budget.decide(`f${i}`, 0.95, 0.05, "tenant-b"), budget.observe(`f${i}`, 0.95, false, "tenant-b")
    }
    assert.equal(budget.decide("a", 0.95, 0.05, "tenant-a")._tag, "Serve", "nor do its wrong ones close another's")
  })

  it("counts the fast stage's hits apart from the full model's: right fast-stage answers open no model band", () => {
    const digest = (value: unknown) => JSON.stringify(value)
    const fastBand = bandOf(digest, "tenant-a|openai|m", "fast")
    const modelBand = bandOf(digest, "tenant-a|openai|m", "model")
    assert.notEqual(fastBand, modelBand)
    assert.notEqual(bandOf(digest, "tenant-b|openai|m", "fast"), fastBand, "nor one scope's another's")
    const budget = makeErrorBudget(() => 0.99)
    for (let i = 0; i < 200; i++) {
      budget.decide(`e${i}`, 0.95, 0.05, fastBand), budget.observe(`e${i}`, 0.95, true, fastBand)
    }
    assert.equal(budget.decide("a", 0.95, 0.05, fastBand)._tag, "Serve")
    assert.equal(budget.decide("a", 0.95, 0.05, modelBand)._tag, "Withhold", "the model's band has observed nothing")
  })

  it("keeps a stopped entry's mark while the entry is cached, however many marks come after", () => {
    const budget = makeErrorBudget(() => 0.99, 3, (entry) => entry === "stopped")
    budget.stop("stopped")
    for (let i = 0; i < 10; i++) budget.observe(`e${i}`, 0.9, false, "b")
    assert.equal(budget.markOf("stopped"), STOPPED)
    assert.equal(budget.decide("stopped", 1, 1, "b")._tag, "Withhold")
    assert.equal(budget.markOf("e0"), undefined, "the others are bounded still")
    budget.takeUnsent()
    const shared = new Map([["stopped", STOPPED], ...Array.from({ length: 10 }, (_, i) => [`r${i}`, 0.5] as const)])
    budget.adopt({ counts: new Map(), marks: shared })
    assert.equal(budget.markOf("stopped"), STOPPED, "nor does adopting the replicas' marks drop it")
    assert.ok(budget.status(0.05).entries_threshold_raised + budget.status(0.05).entries_stopped_serving <= 3)
  })
})
