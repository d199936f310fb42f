import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadUseLiteFastOnly } from "../../../runtimes/embedding/useLiteStatic.ts"
import { eventually } from "../../support/eventually.ts"
import { askNative as ask, type RunningGateway, semanticGateways } from "../../support/gateway.ts"

const fast = await loadUseLiteFastOnly()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => fast, loadHnswlib: async () => hnswlib }
const { withGateway } = semanticGateways(backends)

interface BudgetStatus {
  readonly served_hits: number
  readonly withheld_hits: number
  readonly labelled_hits: number
  readonly observed_false_hit_rate: number
  readonly false_hit_rate_upper_bound: number
  readonly entries_threshold_raised: number
}

const budgetOf = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { budget: BudgetStatus } } }).layers
    .l1b.budget

describe("L1b false-hit budget through the gateway", () => {
  it("serves nothing it has not seen checked: a would-be hit goes upstream, and the fresh answer labels it", async () => {
    await withGateway({ ISARTOR__L1B_ERROR_BUDGET: "0.05" }, async (gateway) => {
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const paraphrase = await ask(gateway, "How can I reset my password?")
      assert.equal(paraphrase.layer, "l3", "cold start: withheld")
      assert.match(paraphrase.body.message, /to: How can I reset my password\?$/, "the fresh answer")
      // The fake's answers differ per question: the label says the cached answer would have been wrong.
      await eventually(async () => (await budgetOf(gateway)).labelled_hits >= 1, { what: "the label" })
      const budget = await budgetOf(gateway)
      assert.equal(budget.served_hits, 0)
      assert.ok(budget.withheld_hits >= 1)
      assert.equal(budget.observed_false_hit_rate, 1)
      assert.equal(budget.false_hit_rate_upper_bound, 1)
      assert.equal(budget.entries_threshold_raised, 1, "the entry that would have answered learnt it")
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text()
      assert.match(metrics, /isartor_l1b_budget_hits_total\{[^}]*outcome="withheld"[^}]*\} [1-9]/)
      assert.match(metrics, /isartor_l1b_false_hit_rate\{[^}]*bound="upper"[^}]*\} 1/)
    })
  })

  it("takes a tighter budget from X-Isartor-L1b-Error-Budget and ignores a looser one", async () => {
    await withGateway({ ISARTOR__L1B_ERROR_BUDGET: "1" }, async (gateway) => {
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const tighter = await ask(gateway, "How can I reset my password?", { "x-isartor-l1b-error-budget": "0.5" })
      assert.equal(tighter.layer, "l3", "a budget of 0.5 with nothing observed serves nothing")
      assert.equal((await ask(gateway, "how can i reset my password")).layer, "l1b", "no budget: served")
    })
    await withGateway({ ISARTOR__L1B_ERROR_BUDGET: "0" }, async (gateway) => {
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const looser = await ask(gateway, "How can I reset my password?", { "x-isartor-l1b-error-budget": "1" })
      assert.equal(looser.layer, "l3", "a looser budget is ignored")
    })
  })

  it("refuses a budget that is not a fraction with a 400 in the client's format", async () => {
    await withGateway({}, async (gateway) => {
      const anthropic = await fetch(`${gateway.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-isartor-l1b-error-budget": "lots" },
        body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }] })
      })
      assert.equal(anthropic.status, 400)
      const body = (await anthropic.json()) as { type: string; error: { type: string; message: string } }
      assert.equal(body.type, "error")
      assert.match(body.error.message, /X-Isartor-L1b-Error-Budget/)
      const openai = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-isartor-l1b-error-budget": "1.5" },
        body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] })
      })
      assert.equal(openai.status, 400)
      assert.match(((await openai.json()) as { error: { message: string } }).error.message, /between 0 and 1/)
    })
  })

  it("stops serving an entry a caller reported wrong, and counts the wrong hit", async () => {
    await withGateway({ ISARTOR__L1B_ERROR_BUDGET: "1" }, async (gateway) => {
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const hit = await fetch(`${gateway.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ prompt: "How can I reset my password?" })
      })
      assert.equal(hit.headers.get("x-isartor-layer"), "l1b")
      const id = hit.headers.get("x-isartor-cache-key")!
      const feedback = await fetch(`${gateway.url}/v1/cache/${id}/feedback`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ correct: false })
      })
      assert.equal(feedback.status, 200)
      const budget = await budgetOf(gateway)
      assert.equal(budget.labelled_hits, 1, "counted as a wrong hit where it was served")
      assert.equal(budget.observed_false_hit_rate, 1)
      assert.equal((await ask(gateway, "how can i reset my password")).layer, "l3")
    })
  })
})
