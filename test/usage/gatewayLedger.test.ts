import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// The ledger as an operator reads it: each answered request one row, spent when L3 answered, saved when a cache
// did — at what the answer cost when it was first bought.

const file = fakeUpstreamGateway({ env: { ISARTOR__CACHE_MODE: "exact" } })

const ask = async (content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
  const response = await fetch(`${file.gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra })
  })
  await response.text()
  return response
}

const recent = async (): Promise<ReadonlyArray<UsageRow>> => Effect.runPromise(file.gateway.gateway.usage.recent(1000))

describe("the usage ledger of a running gateway", () => {
  it("records an L3 answer as spent and its exact hit as saved, at the first purchase's cost", async () => {
    const first = await ask("what does the ledger record?")
    assert.equal(first.headers.get("x-isartor-layer"), "l3")
    const again = await ask("what does the ledger record?")
    assert.equal(again.headers.get("x-isartor-layer"), "l1a")
    const [hit, miss] = await recent()
    assert.ok(hit && miss)
    assert.equal(miss.layer, "l3")
    assert.equal(miss.provider, "openai")
    assert.equal(miss.model_asked, "gpt-4o-mini")
    assert.ok(miss.tokens_in > 0 && miss.tokens_out > 0)
    // gpt-4o-mini's list price: 0.15 / 0.60 USD per million.
    assert.equal(miss.cost_usd, (miss.tokens_in * 0.15 + miss.tokens_out * 0.6) / 1e6)
    assert.equal(miss.tokens_saved, 0)
    assert.equal(hit.layer, "l1a")
    assert.equal(hit.tokens_in, 0)
    assert.equal(hit.cost_usd, 0)
    assert.equal(hit.tokens_saved, miss.tokens_in + miss.tokens_out)
    assert.equal(hit.cost_saved_usd, miss.cost_usd)
    assert.equal(hit.caller, miss.caller)
    const report = await Effect.runPromise(
      file.gateway.gateway.usage.report({ since: Date.now() - 3_600_000, until: Date.now() + 1 }, "layer")
    )
    assert.deepEqual(report.total.layers, { l3: 1, l1a: 1 })
  })

  it("estimates the input of an answer that came without usage, and says the row is estimated", async () => {
    // A stream whose client did not ask for usage: the upstream sends none.
    const content = "count the tokens of this question, which the upstream will not count for us"
    const response = await ask(content, { stream: true })
    assert.equal(response.headers.get("x-isartor-layer"), "l3")
    const [streamed] = await recent()
    assert.ok(streamed)
    assert.equal(streamed.stream, true)
    assert.equal(streamed.tokens_estimated, true)
    assert.ok(streamed.tokens_in >= 10, `the question's tokens, estimated: ${streamed.tokens_in}`)
    assert.ok(streamed.tokens_out > 0)
    assert.equal(streamed.cost_usd, (streamed.tokens_in * 0.15 + streamed.tokens_out * 0.6) / 1e6)
  })

  it("records a request no layer or provider took as what it is, not as L3", async () => {
    const response = await ask("never asked before, and only a cached answer will do", {}, {
      "cache-control": "only-if-cached"
    })
    assert.equal(response.status, 504)
    const [refused] = await recent()
    assert.ok(refused)
    assert.equal(refused.status, 504)
    assert.equal(refused.layer, "none")
    assert.equal(refused.provider, "")
    assert.equal(refused.tokens_in + refused.tokens_out + refused.cost_usd, 0)
    const report = await Effect.runPromise(
      file.gateway.gateway.usage.report({ since: Date.now() - 3_600_000, until: Date.now() + 1 }, "layer")
    )
    assert.equal(report.total.layers.none, 1)
    assert.equal(report.total.errors, 1)
  })
})
