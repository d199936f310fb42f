import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import type { BudgetStatus } from "../../core/budgets/status.ts"
import { estimateInputTokens } from "../../core/formats/anthropic/tokens.ts"
import { type BudgetGateway, startBudgetGateway, utc } from "../support/budgetGateway.ts"
import { type FakeOpenAI, startFakeOpenAI, TEST_PROVIDER_KEY } from "../support/fakeOpenAI.ts"

// `/v1/embeddings` and the `/v1/responses` pass-through go through the same provider link as chat: its budgets,
// the model aliases and its circuit breaker apply to them too (one provider each, no fallback).

/** What the fake reports of an embeddings answer: 3 prompt tokens per input. */
const EMBEDDING_TOKENS = 3

let primary: FakeOpenAI
let spare: FakeOpenAI
before(async () => {
  primary = await startFakeOpenAI()
  spare = await startFakeOpenAI()
})
after(async () => {
  await primary.close()
  await spare.close()
})
beforeEach(() => {
  for (const fake of [primary, spare]) {
    fake.calls.length = 0
    fake.queue.length = 0
    fake.setDefault({ kind: "ok" })
  }
})

const toml = (extra: string) => `
external_llm_url = "${primary.url}"
external_llm_api_key = "${TEST_PROVIDER_KEY}"

[providers.openai_compatible]
url = "${spare.url}"
api_key = "${TEST_PROVIDER_KEY}"

[model_aliases]
vectors = "text-embedding-3-small"
spare-vectors = "openai-compatible/spare-embed"
fast = "gpt-4o-mini"
${extra}
`

const post = (gateway: BudgetGateway, path: string, body: unknown) =>
  gateway.gateway.fetch(
    new Request(`http://gateway${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
  )
const embed = (gateway: BudgetGateway, input: string, model = "text-embedding-3-small") =>
  post(gateway, "/v1/embeddings", { model, input })
const respond = (gateway: BudgetGateway, input: string, model = "gpt-4o-mini") =>
  post(gateway, "/v1/responses", { model, input, max_output_tokens: 16 })

const callsTo = (fake: FakeOpenAI, path: string) => fake.calls.filter((call) => call.path.endsWith(path))

const budgetNamed = async (gateway: BudgetGateway, name: string) =>
  ((await (await gateway.get("/admin/budgets")).json()) as { data: Array<BudgetStatus> }).data
    .find((budget) => budget.budget === name)!

describe("embeddings and the Responses pass-through within budgets, aliases and breakers", () => {
  it("charges embeddings to the provider's budget and refuses them once it is spent", async () => {
    // Every input of the test estimates the same: a limit that admits exactly two, each settled to its real tokens.
    const inputs = ["vector input a", "vector input b", "vector input c"]
    const each = await estimateInputTokens({ messages: [{ content: inputs[0] }] })
    const gateway = await startBudgetGateway(toml(`[budgets.openai]\ndaily_tokens = ${EMBEDDING_TOKENS + each}\n`))
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.equal((await embed(gateway, inputs[0]!)).status, 200)
      assert.equal((await embed(gateway, inputs[1]!)).status, 200)
      const refused = await embed(gateway, inputs[2]!)
      assert.equal(refused.status, 429)
      assert.equal(refused.headers.get("x-should-retry"), "false")
      const { error } = (await refused.json()) as { error: { message: string; code: string } }
      assert.equal(error.code, "BudgetExceeded")
      assert.match(error.message, /^budget "openai" daily_tokens is spent/)
      assert.equal(callsTo(primary, "/embeddings").length, 2, "the refused request never went upstream")
      const openai = await budgetNamed(gateway, "openai")
      assert.equal(openai.windows[0]!.tokens.used, 2 * EMBEDDING_TOKENS, "charged the answers' real usage")
    } finally {
      await gateway.close()
    }
  })

  it("charges a passed-through Responses request to its budget, and refuses it in the Responses error shape", async () => {
    const gateway = await startBudgetGateway(toml(`[budgets.openai]\ndaily_tokens = 1000\n`))
    try {
      gateway.setTime(utc(1, 2, 12))
      const answered = await respond(gateway, "a responses question")
      assert.equal(answered.status, 200)
      const response = (await answered.json()) as { usage: { input_tokens: number; output_tokens: number } }
      const used = response.usage.input_tokens + response.usage.output_tokens
      assert.equal(callsTo(primary, "/responses").length, 1, "passed through, not translated")
      assert.equal((await budgetNamed(gateway, "openai")).windows[0]!.tokens.used, used)
    } finally {
      await gateway.close()
    }
    const spent = await startBudgetGateway(toml(`[budgets.openai]\ndaily_tokens = 0\n`))
    try {
      const refused = await respond(spent, "a refused responses question")
      assert.equal(refused.status, 429)
      const { error } = (await refused.json()) as { error: { message: string; type: string } }
      assert.match(error.message, /^budget "openai" daily_tokens is spent/)
      assert.equal(callsTo(primary, "/responses").length, 1)
    } finally {
      await spent.close()
    }
  })

  it("sends an embeddings alias upstream as its model, to the provider it names, cached under that model", async () => {
    const gateway = await startBudgetGateway(toml(""))
    try {
      const aliased = await embed(gateway, "alias vector", "vectors")
      assert.equal(aliased.status, 200)
      assert.deepEqual(callsTo(primary, "/embeddings").map((call) => call.body.model), ["text-embedding-3-small"])
      const same = await embed(gateway, "alias vector", "text-embedding-3-small")
      assert.equal(same.headers.get("x-isartor-layer"), "l1a", "the alias was resolved before the cache key")

      const elsewhere = await embed(gateway, "alias vector", "spare-vectors")
      assert.equal(elsewhere.status, 200)
      assert.equal(elsewhere.headers.get("x-isartor-provider"), "openai-compatible")
      assert.deepEqual(callsTo(spare, "/embeddings").map((call) => call.body.model), ["spare-embed"])
      assert.equal(callsTo(primary, "/embeddings").length, 1)
    } finally {
      await gateway.close()
    }
  })

  it("sends a Responses alias upstream as its model, passed through", async () => {
    const gateway = await startBudgetGateway(toml(""))
    try {
      const answered = await respond(gateway, "alias responses question", "fast")
      assert.equal(answered.status, 200)
      const [call] = callsTo(primary, "/responses")
      assert.equal(call?.body.model, "gpt-4o-mini")
      assert.equal(call?.body.input, "alias responses question", "the rest of the body as the client sent it")
    } finally {
      await gateway.close()
    }
  })

  it("does not call a provider whose breaker is open, for embeddings and Responses alike", async () => {
    const gateway = await startBudgetGateway(toml(""), {
      ISARTOR__L3_MAX_RETRIES: "0",
      ISARTOR__BREAKER_COOLOFF_SECS: "600"
    })
    try {
      primary.setDefault({ kind: "error", status: 500, message: "The server had an error" })
      for (let request = 0; request < 10; request++) {
        assert.equal((await embed(gateway, `failing vector ${request}`)).status, 502)
      }
      const upstreamCalls = primary.calls.length
      const refusedEmbedding = await embed(gateway, "while open")
      const refusedResponse = await respond(gateway, "while open")
      for (const refused of [refusedEmbedding, refusedResponse]) {
        assert.equal(refused.status, 503)
        assert.ok(Number(refused.headers.get("retry-after")) > 0, "it says when to try again")
      }
      assert.equal(primary.calls.length, upstreamCalls, "the open breaker kept both from the upstream")
    } finally {
      await gateway.close()
    }
  })
})
