import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { startPoolGateway } from "../support/poolGateway.ts"

const PRIMARY_KEY = "sk-alias-primary-aaaaaaaa0001"
const OTHER_KEY = "sk-alias-other-bbbbbbbbbb0002"

let primary: KeyedUpstream
let other: KeyedUpstream
before(async () => {
  primary = await startKeyedUpstream()
  other = await startKeyedUpstream()
})
after(async () => {
  await primary.close()
  await other.close()
})
beforeEach(() => {
  primary.calls.length = 0
  other.calls.length = 0
})

const file = () => `
external_llm_url = "${primary.url}"
external_llm_api_key = "${PRIMARY_KEY}"

[model_aliases]
fast = "gpt-4o-mini"
smart = "openai-compatible/big-model"
routed = "openrouter-style/some-model"

[providers.openai_compatible]
url = "${other.url}"
api_key = "${OTHER_KEY}"
model = "fallback-model"
`

describe("model aliases", () => {
  it("sends an alias upstream as its model, answers with the real model, and caches it under that model", async () => {
    const gateway = await startPoolGateway({}, { "isartor.toml": file() })
    try {
      const answer = await gateway.ask("what is an alias?", { model: "fast" })
      assert.equal(answer.status, 200)
      assert.equal(((await answer.json()) as { model: string }).model, "gpt-4o-mini")
      assert.deepEqual(primary.calls.map((call) => call.model), ["gpt-4o-mini"])
      const same = await gateway.ask("what is an alias?", { model: "gpt-4o-mini" })
      assert.equal(same.headers.get("x-isartor-layer"), "l1a", "the alias was resolved before the cache key")
      assert.equal(primary.calls.length, 1)
    } finally {
      await gateway.close()
    }
  })

  it("sends a provider/model alias to that provider, asking for the alias's model, not its own", async () => {
    const gateway = await startPoolGateway({}, { "isartor.toml": file() })
    try {
      const answer = await gateway.ask("a hard question", { model: "smart" })
      assert.equal(answer.status, 200)
      assert.equal(answer.headers.get("x-isartor-provider"), "openai-compatible")
      assert.equal(((await answer.json()) as { model: string }).model, "big-model")
      assert.deepEqual(other.calls.map((call) => call.model), ["big-model"])
      assert.equal(primary.calls.length, 0)
      const routed = await gateway.ask("not a provider", { model: "routed" })
      assert.equal(routed.status, 200)
      assert.deepEqual(primary.calls.map((call) => call.model), ["openrouter-style/some-model"])
    } finally {
      await gateway.close()
    }
  })

  it("lists the aliases in GET /v1/models, each with what it stands for", async () => {
    const gateway = await startPoolGateway({ ISARTOR__MODEL_ALIASES: "fast=gpt-4o-mini, smart=openai/gpt-4.1" })
    try {
      const models = (await (await gateway.get("/v1/models")).json()) as { data: Array<Record<string, unknown>> }
      assert.deepEqual(models.data.map((model) => [model.id, model.owned_by, model.alias_for]), [
        ["gpt-4o-mini", "openai", undefined],
        ["fast", "openai", "gpt-4o-mini"],
        ["smart", "openai", "openai/gpt-4.1"]
      ])
    } finally {
      await gateway.close()
    }
  })

  it("refuses an alias variable that is not name=target pairs", async () => {
    await assert.rejects(startPoolGateway({ ISARTOR__MODEL_ALIASES: "fast" }), /ISARTOR__MODEL_ALIASES/)
  })
})
