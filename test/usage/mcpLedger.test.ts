import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// An agent's `cache_lookup` over MCP that finds an answer saved it a model call: the ledger counts it as it counts a
// chat request's hit, at what the answer first cost.

const file = fakeUpstreamGateway({ env: { ISARTOR__CACHE_MODE: "exact" } })

const recent = async (): Promise<ReadonlyArray<UsageRow>> => Effect.runPromise(file.gateway.gateway.usage.recent(1000))

describe("the usage ledger of MCP cache lookups", () => {
  it("records a lookup that found an answer as a deflection, and not one that found none", async () => {
    const question = "Which river runs through Munich?"
    const answered = await fetch(`${file.gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: question }] })
    })
    assert.equal(answered.headers.get("x-isartor-layer"), "l3")
    await answered.text()

    const client = new Client({ name: "ledger-test", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${file.gateway.url}/mcp`)))
    const lookup = async (prompt: string) =>
      (await client.callTool({ name: "cache_lookup", arguments: { prompt, model: "gpt-4o-mini" } }))
        .structuredContent as { found: boolean; layer?: string }
    for (const found of [await lookup(question), await lookup(question)]) {
      assert.deepEqual([found.found, found.layer], [true, "l1a"])
    }
    assert.equal((await lookup("A question nobody asked before?")).found, false)
    await client.close()

    const [second, first, bought, ...rest] = await recent()
    assert.equal(rest.length, 0, "a lookup that found nothing is not a row")
    assert.ok(second && first && bought)
    assert.equal(bought.layer, "l3")
    for (const hit of [first, second]) {
      assert.equal(hit.family, "mcp")
      assert.equal(hit.layer, "l1a")
      assert.equal(hit.caller, bought.caller)
      assert.equal(hit.model, bought.model)
      assert.equal(hit.tokens_in + hit.tokens_out + hit.cost_usd, 0)
      assert.equal(hit.tokens_saved, bought.tokens_in + bought.tokens_out)
      assert.equal(hit.cost_saved_usd, bought.cost_usd)
    }
  })
})
