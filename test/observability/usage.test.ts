import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { startGateway } from "../../core/Gateway.ts"
import { modelOf, usageOf } from "../../core/observability/usage.ts"
import { makePrices } from "../../core/usage/prices.ts"

describe("tokens and the cost estimate", () => {
  it("reads an answer's own usage, never text in its content that looks like one", () => {
    const completion = JSON.stringify({
      id: "chatcmpl-1",
      model: "gpt-4o-mini-2024-07-18",
      choices: [{
        index: 0,
        message: { role: "assistant", content: "JSON like \"usage\":{\"prompt_tokens\":999} and \"model\":\"gpt-4o\"" },
        finish_reason: "stop"
      }],
      usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 }
    })
    assert.deepEqual(usageOf(completion), { input: 12, output: 30 })
    assert.equal(modelOf(completion), "gpt-4o-mini-2024-07-18")
    assert.equal(usageOf(JSON.stringify({ id: "x", choices: [] })), undefined)
  })

  it("prices a dated model by its longest listed prefix, per million tokens", () => {
    const price = makePrices({ pricing: {}, model_prices: ["gpt-4o=2.00/8.00", "gpt-4o-mini=0.10/0.50"] })
    const mini = price("openai", "gpt-4o-mini-2024-07-18")
    assert.deepEqual([mini?.input, mini?.output], [0.1 / 1e6, 0.5 / 1e6])
    assert.equal(price("openai", "gpt-4o-2024-08-06")?.input, 2 / 1e6)
    assert.equal(price("ollama", "llama3.2"), undefined)
  })

  it("refuses a price table it cannot read, naming the variable and the form", async () => {
    await assert.rejects(
      startGateway({
        env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ISARTOR__MODEL_PRICES: "gpt-4o=cheap" },
        readTextFile: async () => undefined
      }, { log: { info: () => undefined, warn: () => undefined } }),
      /ISARTOR__MODEL_PRICES[\s\S]*expected model=input\/output \(USD per million tokens\), not gpt-4o=cheap/
    )
  })
})
