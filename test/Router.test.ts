import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, beforeEach, describe, it } from "node:test"
import OpenAI from "openai"
import { parseTier } from "../core/Router.ts"
import { type FakeOpenAI, startFakeOpenAI } from "./support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "./support/gateway.ts"

/**
 * A loopback OpenAI-compatible sidecar standing in for llama.cpp / vLLM / Ollama: it classifies by keywords
 * (as a small model would, with untidy replies) and answers — weakly when asked to.
 */
interface SidecarCall {
  readonly kind: "classify" | "answer"
  readonly body: Record<string, any>
}
let sidecar: Server
let sidecarUrl: string
const sidecarCalls: Array<SidecarCall> = []

const classify = (text: string) =>
  /tsconfig|readme/i.test(text) ? " Template." : /function|unsure|tiny/i.test(text) ? "snippet: short" : /capital/i.test(text) ? "SIMPLE" : "COMPLEX!"
const answer = (text: string) =>
  /unsure/i.test(text) ? "I'm not sure how to do that." : /tiny/i.test(text) ? "ok" : `Local answer for: ${text}`

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
  sidecar = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" })
      return void res.end(JSON.stringify({ object: "list", data: [{ id: "tiny-model", object: "model" }] }))
    }
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, any>
      const isClassification = String(body.messages[0]?.content ?? "").startsWith("Classify")
      const text = String(body.messages[body.messages.length - 1].content)
      sidecarCalls.push({ kind: isClassification ? "classify" : "answer", body })
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({
        id: "chatcmpl-sidecar",
        object: "chat.completion",
        created: 1_700_000_000,
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: isClassification ? classify(text) : answer(text) }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }
      }))
    })
  })
  await new Promise<void>((resolve) => sidecar.listen(0, "127.0.0.1", resolve))
  sidecarUrl = `http://127.0.0.1:${(sidecar.address() as AddressInfo).port}`
})
after(async () => {
  sidecar.closeAllConnections()
  await new Promise((resolve) => sidecar.close(resolve))
  await upstream.close()
})
beforeEach(() => {
  sidecarCalls.length = 0
  upstream.calls.length = 0
})

const withRouter = async (extra: Record<string, string>, run: (gateway: RunningGateway) => Promise<void>) => {
  const gateway = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl, ISARTOR__LAYER2__MODEL_NAME: "tiny-model", ...extra }))
  try {
    await run(gateway)
  } finally {
    await gateway.close()
  }
}

const ask = async (gateway: RunningGateway, prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
  return { layer: response.headers.get("x-isartor-layer"), tier: response.headers.get("x-isartor-tier"), body: (await response.json()) as { layer: number; message: string } }
}

describe("parseTier", () => {
  it("reads untidy replies and defaults to COMPLEX", () => {
    assert.equal(parseTier(" Template.", "tiered"), "TEMPLATE")
    assert.equal(parseTier("snippet: short", "tiered"), "SNIPPET")
    assert.equal(parseTier("I think COMPLEX!", "tiered"), "COMPLEX")
    assert.equal(parseTier("no idea", "tiered"), "COMPLEX")
    assert.equal(parseTier("simple", "binary"), "SIMPLE")
    assert.equal(parseTier("template", "binary"), "COMPLEX", "binary mode knows only SIMPLE and COMPLEX")
  })
})

describe("L2 router", () => {
  it("answers a TEMPLATE request locally, shows the tier, and caches the answer", async () => {
    await withRouter({}, async (gateway) => {
      const first = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(first.layer, "l2")
      assert.equal(first.tier, "TEMPLATE")
      assert.deepEqual(first.body, { layer: 2, message: "Local answer for: Write a tsconfig.json for a Node library", model: "tiny-model" })
      assert.equal(upstream.calls.length, 0)
      const classification = sidecarCalls.find((call) => call.kind === "classify")!
      assert.equal(classification.body.temperature, 0)
      assert.equal(sidecarCalls.find((call) => call.kind === "answer")!.body.max_tokens, 2048)
      const again = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(again.layer, "l1a")
    })
  })

  it("sends COMPLEX requests to L3, still naming the tier", async () => {
    await withRouter({}, async (gateway) => {
      const result = await ask(gateway, "Build a full REST API with auth, tests and a database layer")
      assert.equal(result.layer, "l3")
      assert.equal(result.tier, "COMPLEX")
      assert.deepEqual(sidecarCalls.map((call) => call.kind), ["classify"])
      assert.equal(upstream.calls.length, 1)
    })
  })

  it("escalates weak local answers (uncertain or too short) to L3", async () => {
    await withRouter({}, async (gateway) => {
      const unsure = await ask(gateway, "Write a function I am unsure about")
      assert.equal(unsure.layer, "l3")
      assert.equal(unsure.tier, "SNIPPET")
      assert.match(unsure.body.message, /^Answer #1 to:/)
      const tiny = await ask(gateway, "Write a tiny function")
      assert.equal(tiny.layer, "l3")
      assert.equal(upstream.calls.length, 2)
    })
  })

  it("answers SIMPLE requests locally in binary mode", async () => {
    await withRouter({ ISARTOR__LAYER2__CLASSIFIER_MODE: "binary" }, async (gateway) => {
      const result = await ask(gateway, "What is the capital of France?")
      assert.equal(result.layer, "l2")
      assert.equal(result.tier, "SIMPLE")
    })
  })

  it("streams a local answer as SSE to an OpenAI client", async () => {
    await withRouter({}, async (gateway) => {
      const client = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const { data, response } = await client.chat.completions
        .create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Write a README for my CLI" }], stream: true })
        .withResponse()
      assert.equal(response.headers.get("x-isartor-layer"), "l2")
      let text = ""
      for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? ""
      assert.equal(text, "Local answer for: Write a README for my CLI")
    })
  })

  it("treats an unreachable sidecar as COMPLEX: L3 answers, nothing fails, /health says so", async () => {
    const gateway = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__LAYER2__SIDECAR_URL: "http://127.0.0.1:9", ISARTOR__LAYER2__TIMEOUT_SECONDS: "2" }))
    try {
      const result = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(result.layer, "l3")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l2: { status: string } } }
      assert.equal(health.layers.l2.status, "unavailable")
    } finally {
      await gateway.close()
    }
  })

  it("is off unless configured", async () => {
    const gateway = await startTestGateway(upstreamEnv(upstream.url))
    try {
      assert.equal((await ask(gateway, "Write a tsconfig.json for a Node library")).layer, "l3")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l2: { status: string } } }
      assert.equal(health.layers.l2.status, "disabled")
      assert.equal(sidecarCalls.length, 0)
    } finally {
      await gateway.close()
    }
  })
})
