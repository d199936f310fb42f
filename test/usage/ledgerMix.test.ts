import { Effect } from "effect"
import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { after, before, describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway } from "../support/gateway.ts"

// A known mix of requests from two labelled callers — an L3 answer, its exact hit, a paraphrase (L1b), a stream and
// a failure — gives exact rows: tokens and cost per caller label, model and layer, and savings at the first cost.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

const WEB_KEY = "gw-team-web-0123456789"
const ML_KEY = "gw-team-ml-9876543210"
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
// gpt-4o-mini at the shipped list price.
const PRICE = { input: 0.15 / 1e6, output: 0.6 / 1e6 }

let fake: FakeProviders
let gateway: RunningGateway
before(async () => {
  fake = await startFakeProviders()
  gateway = await startTestGateway(
    {
      ISARTOR__EXTERNAL_LLM_URL: `${fake.url}/v1`,
      ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey,
      ISARTOR__CACHE_MODE: "both",
      ISARTOR__L3_MAX_RETRIES: "0",
      ISARTOR__GATEWAY_KEYS: `team-web=sha256:${sha256(WEB_KEY)},team-ml=env:ML_GATEWAY_KEY`,
      ML_GATEWAY_KEY: ML_KEY
    },
    {},
    backends
  )
})
after(async () => {
  await gateway.close()
  await fake.close()
})

const ask = async (key: string, content: string, extra: Record<string, unknown> = {}) => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra })
  })
  await response.text()
  return { status: response.status, layer: response.headers.get("x-isartor-layer") }
}

const rows = async (): Promise<Array<UsageRow>> => [...await Effect.runPromise(gateway.gateway.usage.recent(1000))]
const priced = (tokensIn: number, tokensOut: number) => tokensIn * PRICE.input + tokensOut * PRICE.output

describe("the ledger of a known mix of requests", () => {
  it("has one exact row per request, by caller label, model and layer", async () => {
    assert.deepEqual(await ask(WEB_KEY, "How do I reset my router?"), { status: 200, layer: "l3" })
    assert.deepEqual(await ask(WEB_KEY, "How do I reset my router?"), { status: 200, layer: "l1a" })
    assert.deepEqual(await ask(WEB_KEY, "How can I reset my router?"), { status: 200, layer: "l1b" })
    const streamed = await ask(ML_KEY, "Name a colour.", { stream: true, stream_options: { include_usage: true } })
    assert.deepEqual(streamed, { status: 200, layer: "l3" })
    fake.queue.push({ kind: "error", status: 500, message: "upstream down" })
    assert.equal((await ask(ML_KEY, "What is 2 + 2?")).status, 502)
    assert.equal((await ask("not-a-key", "What is 2 + 2?")).status, 401)

    const ledger = (await rows()).reverse()
    assert.deepEqual(
      ledger.map((row) => [row.label, row.layer, row.status, row.stream]),
      [
        ["team-web", "l3", 200, false],
        ["team-web", "l1a", 200, false],
        ["team-web", "l1b", 200, false],
        ["team-ml", "l3", 200, true],
        ["team-ml", "l3", 502, false]
      ],
      "a refused request (401) is not an answered one"
    )
    const [bought, exact, semantic, stream, failed] = ledger as [UsageRow, UsageRow, UsageRow, UsageRow, UsageRow]
    assert.ok(bought.tokens_in > 0 && bought.tokens_out > 0)
    assert.equal(bought.model, "gpt-4o-mini")
    assert.equal(bought.cost_usd, priced(bought.tokens_in, bought.tokens_out))
    for (const deflected of [exact, semantic]) {
      assert.equal(deflected.tokens_in + deflected.tokens_out + deflected.cost_usd, 0)
      assert.equal(deflected.tokens_saved, bought.tokens_in + bought.tokens_out)
      assert.equal(deflected.cost_saved_usd, bought.cost_usd, "saved at what the answer first cost")
    }
    assert.ok(stream.tokens_in > 0 && stream.tokens_out > 0, "a stream's usage from its last event")
    assert.equal(stream.cost_usd, priced(stream.tokens_in, stream.tokens_out))
    assert.equal(failed.tokens_in + failed.tokens_out + failed.cost_usd, 0)

    const now = Date.now()
    const byCaller = await Effect.runPromise(
      gateway.gateway.usage.report({ since: now - 3_600_000, until: now + 1 }, "caller")
    )
    const web = byCaller.groups.find((group) => group.key === "team-web")!
    const ml = byCaller.groups.find((group) => group.key === "team-ml")!
    assert.deepEqual(web.layers, { l3: 1, l1a: 1, l1b: 1 })
    assert.equal(web.cost_saved_usd, Math.round(2 * bought.cost_usd * 1e6) / 1e6)
    assert.deepEqual([ml.requests, ml.errors], [2, 1])
    assert.deepEqual(byCaller.unpriced_models, [])

    // Neither key, nor its hash, is anywhere in what the ledger keeps.
    const kept = JSON.stringify([ledger, byCaller])
    for (const secret of [WEB_KEY, ML_KEY, sha256(WEB_KEY), sha256(ML_KEY)]) assert.ok(!kept.includes(secret))
  })
})
