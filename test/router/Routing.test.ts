import { Effect } from "effect"
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, beforeEach, describe, it } from "node:test"
import { type BudgetGateway, startBudgetGateway } from "../support/budgetGateway.ts"
import { eventually } from "../support/eventually.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"

const PRIMARY_KEY = "sk-routing-primary-aaaaaaaa0001"
const CHEAP_KEY = "sk-routing-cheap-bbbbbbbbbb0002"

/**
 * A small-model sidecar that classifies by keywords (a config file is TEMPLATE, anything else COMPLEX) and fails
 * every local answer, so each request goes on to L3 with its tier.
 */
let sidecar: Server
let sidecarUrl: string
let primary: KeyedUpstream
let cheap: KeyedUpstream
before(async () => {
  primary = await startKeyedUpstream()
  cheap = await startKeyedUpstream()
  sidecar = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(JSON.stringify(body))
    }
    if (req.method === "GET") return send(200, { object: "list", data: [{ id: "tiny-model", object: "model" }] })
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { messages: Array<{ content: string }> }
      if (!body.messages[0]!.content.startsWith("Classify")) {
        return send(500, { error: { message: "no local answers today", type: "server_error" } })
      }
      const text = body.messages.at(-1)!.content
      send(200, {
        id: "chatcmpl-sidecar",
        object: "chat.completion",
        created: 1,
        model: "tiny-model",
        choices: [{
          index: 0,
          message: { role: "assistant", content: /tsconfig/i.test(text) ? "TEMPLATE" : "COMPLEX" },
          finish_reason: "stop"
        }]
      })
    })
  })
  await new Promise<void>((resolve) => sidecar.listen(0, "127.0.0.1", resolve))
  sidecarUrl = `http://127.0.0.1:${(sidecar.address() as AddressInfo).port}`
})
after(async () => {
  await new Promise<void>((resolve) => sidecar.close(() => resolve()))
  await primary.close()
  await cheap.close()
})
beforeEach(() => {
  primary.calls.length = 0
  cheap.calls.length = 0
  cheap.answers.clear()
})

const toml = () => `
enable_slm_router = true
external_llm_url = "${primary.url}"
external_llm_api_key = "${PRIMARY_KEY}"

[layer2]
sidecar_url = "${sidecarUrl}"

[routing]
TEMPLATE = "openai-compatible/cheap-model"

[providers.openai_compatible]
url = "${cheap.url}"
api_key = "${CHEAP_KEY}"

[pricing."openai-compatible/cheap-model"]
input_per_million = 0.15
output_per_million = 0.6
`

const withGateway = async (run: (gateway: BudgetGateway) => Promise<void>) => {
  const gateway = await startBudgetGateway(toml())
  try {
    await run(gateway)
  } finally {
    await gateway.close()
  }
}

const ask = async (gateway: BudgetGateway, prompt: string) => {
  const response = await gateway.ask(prompt, { model: "gpt-4o" })
  assert.equal(response.status, 200)
  return {
    headers: response.headers,
    model: ((await response.json()) as { model: string }).model
  }
}

describe("routing by difficulty", () => {
  it("sends a TEMPLATE-tier request to the rule's model and a COMPLEX one to the default", async () => {
    await withGateway(async (gateway) => {
      const template = await ask(gateway, "Write a tsconfig.json for a Node 20 library")
      assert.equal(template.headers.get("x-isartor-tier"), "TEMPLATE")
      assert.equal(template.headers.get("x-isartor-provider"), "openai-compatible")
      assert.equal(template.headers.get("x-isartor-routed-to"), "openai-compatible/cheap-model")
      assert.equal(template.model, "cheap-model", "the answer names the model that answered")
      assert.deepEqual(cheap.calls.map((call) => call.model), ["cheap-model"])

      const complex = await ask(gateway, "Design a distributed lock service with fencing tokens")
      assert.equal(complex.headers.get("x-isartor-tier"), "COMPLEX")
      assert.equal(complex.headers.get("x-isartor-routed-to"), null)
      assert.equal(complex.model, "gpt-4o")
      assert.deepEqual(primary.calls.map((call) => call.model), ["gpt-4o"])
    })
  })

  it("caches the routed answer under the rule's model: the same request is answered from L1a", async () => {
    await withGateway(async (gateway) => {
      const prompt = "Write a tsconfig.json for a CLI"
      await ask(gateway, prompt)
      const again = await ask(gateway, prompt)
      assert.equal(again.headers.get("x-isartor-layer"), "l1a")
      assert.equal(again.headers.get("x-isartor-routed-to"), "openai-compatible/cheap-model")
      assert.equal(again.model, "cheap-model")
      assert.equal(cheap.calls.length, 1)
      assert.equal(primary.calls.length, 0)
    })
  })

  it("records in the ledger what the rule saved against the default model's price", async () => {
    await withGateway(async (gateway) => {
      await ask(gateway, "Write a tsconfig.json for a web app")
      const row = await eventually(async () => {
        const rows = await Effect.runPromise(gateway.gateway.usage.recent(10))
        return rows.find((candidate) => candidate.layer === "l3")
      }, { what: "the routed answer's ledger row" })
      assert.equal(row.model, "cheap-model")
      assert.equal(row.model_asked, "gpt-4o")
      // 3 tokens in and 1 out, at gpt-4o's $2.50 / $10 per million rather than $0.15 / $0.60.
      const expected = (3 * (2.5 - 0.15) + 1 * (10 - 0.6)) / 1e6
      assert.ok(Math.abs(row.routing_saved_usd! - expected) < 1e-12, `saved ${row.routing_saved_usd}`)
    })
  })

  it("fails open to the default chain when the rule's provider fails", async () => {
    await withGateway(async (gateway) => {
      cheap.answers.set(CHEAP_KEY, { status: 500 })
      const answer = await ask(gateway, "Write a tsconfig.json for a monorepo")
      assert.equal(answer.headers.get("x-isartor-provider"), "openai")
      assert.equal(answer.headers.get("x-isartor-routed-to"), null)
      assert.equal(answer.model, "gpt-4o")
      assert.ok(cheap.calls.length >= 1, "the rule's provider was asked first")
      assert.deepEqual(primary.calls.map((call) => call.model), ["gpt-4o"])
    })
  })
})
