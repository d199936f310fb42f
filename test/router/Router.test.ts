import { Effect } from "effect"
import assert from "node:assert/strict"
import { writeFile } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, beforeEach, describe, it } from "node:test"
import OpenAI from "openai"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { datasetDigest, parseTier } from "../../core/router/Classifier.ts"
import { shippedClassifiers } from "../../core/router/weights.ts"
import { loadEmbeddedEngine } from "../../runtimes/embedded/llama.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"

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
  /tsconfig|readme/i.test(text)
    ? " Template."
    : /function|unsure|tiny/i.test(text)
    ? "snippet: short"
    : /capital/i.test(text)
    ? "SIMPLE"
    : "COMPLEX!"
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
      if (/explode/i.test(text)) {
        res.writeHead(500, { "content-type": "application/json" })
        return void res.end(JSON.stringify({ error: { message: "model crashed", type: "server_error" } }))
      }
      // Never answered (its connection is closed when the tests end): the gateway's timeout is the only way on.
      if (/slowly/i.test(text)) return
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({
        id: "chatcmpl-sidecar",
        object: "chat.completion",
        created: 1_700_000_000,
        model: body.model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: isClassification ? classify(text) : answer(text) },
          finish_reason: "stop"
        }],
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
  const gateway = await startTestGateway(
    upstreamEnv(upstream.url, {
      ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl,
      ISARTOR__LAYER2__MODEL_NAME: "tiny-model",
      ...extra
    })
  )
  try {
    await run(gateway)
  } finally {
    await gateway.close()
  }
}

const ask = async (gateway: RunningGateway, prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
  return {
    layer: response.headers.get("x-isartor-layer"),
    tier: response.headers.get("x-isartor-tier"),
    body: (await response.json()) as { layer: number; message: string }
  }
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
      assert.deepEqual(first.body, {
        layer: 2,
        message: "Local answer for: Write a tsconfig.json for a Node library",
        model: "tiny-model"
      })
      assert.equal(upstream.calls.length, 0)
      const classification = sidecarCalls.find((call) => call.kind === "classify")!
      assert.equal(classification.body.temperature, 0)
      assert.equal(sidecarCalls.find((call) => call.kind === "answer")!.body.max_tokens, 2048)
      const again = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(again.layer, "l1a")
    })
  })

  it("leaves requests that offer tools, current or legacy (`functions`), to L3 without asking the small model", async () => {
    await withRouter({}, async (gateway) => {
      const parameters = { type: "object", properties: {} }
      const bodies = [
        { tools: [{ type: "function", function: { name: "lookup", parameters } }] },
        { functions: [{ name: "lookup", parameters }] }
      ]
      for (const extra of bodies) {
        const response = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({
            model: "gpt-4o-mini",
            messages: [{ role: "user", content: "Write a tsconfig.json" }],
            ...extra
          })
        })
        await response.arrayBuffer()
        assert.equal(response.headers.get("x-isartor-layer"), "l3", JSON.stringify(extra))
      }
      assert.deepEqual(sidecarCalls, [])
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
        .create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "Write a README for my CLI" }],
          stream: true
        })
        .withResponse()
      assert.equal(response.headers.get("x-isartor-layer"), "l2")
      let text = ""
      for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? ""
      assert.equal(text, "Local answer for: Write a README for my CLI")
    })
  })

  it("treats an unreachable sidecar as COMPLEX: L3 answers, nothing fails, /health says so", async () => {
    const gateway = await startTestGateway(
      upstreamEnv(upstream.url, {
        ISARTOR__LAYER2__SIDECAR_URL: "http://127.0.0.1:9",
        ISARTOR__LAYER2__TIMEOUT_SECONDS: "2"
      })
    )
    try {
      const result = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(result.layer, "l3")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l2: { status: string } } }
      assert.equal(health.layers.l2.status, "unavailable")
    } finally {
      await gateway.close()
    }
  })

  it("sends the request to L3 when the sidecar is slower than the timeout, or fails with 500", async () => {
    await withRouter({ ISARTOR__LAYER2__TIMEOUT_SECONDS: "1" }, async (gateway) => {
      const slow = await ask(gateway, "Write a function slowly")
      assert.equal(slow.layer, "l3")
      assert.match(slow.body.message, /^Answer #1 to: Write a function slowly/)
      const failing = await ask(gateway, "Write a function that will explode")
      assert.equal(failing.layer, "l3")
      assert.equal(upstream.calls.length, 2)
    })
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

describe("L2 with the in-process embedding classifier", () => {
  const backends: SemanticBackends = { loadEmbedder: () => loadUseLite(), loadHnswlib }
  const withClassifier = async (extra: Record<string, string>, run: (gateway: RunningGateway) => Promise<void>) => {
    const gateway = await startTestGateway(
      upstreamEnv(upstream.url, {
        ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl,
        ISARTOR__LAYER2__MODEL_NAME: "tiny-model",
        ISARTOR__LAYER2__CLASSIFIER: "embedding",
        ...extra
      }),
      {},
      backends
    )
    try {
      await run(gateway)
    } finally {
      await gateway.close()
    }
  }

  it("ships weights trained on the current labelled set (run npm run train:router after editing it)", async () => {
    const digest = await Effect.runPromise(
      Effect.map(CacheKey, (service) => service.digest).pipe(Effect.provide(CacheKey.layer))
    )
    assert.equal(shippedClassifiers.model, "use-lite")
    assert.equal(shippedClassifiers.dataset, datasetDigest(digest))
  })

  it("classifies without asking the sidecar: simple requests get one answer call, COMPLEX ones none", async () => {
    await withClassifier({}, async (gateway) => {
      const template = await ask(gateway, "Write a Dockerfile for a Python Flask application")
      assert.equal(template.layer, "l2")
      assert.equal(template.tier, "TEMPLATE")
      const snippet = await ask(gateway, "Write a JavaScript function that returns the sum of an array of numbers")
      assert.equal(snippet.layer, "l2")
      assert.equal(snippet.tier, "SNIPPET")
      assert.deepEqual(
        sidecarCalls.map((call) => call.kind),
        ["answer", "answer"],
        "the sidecar was never asked to classify"
      )

      sidecarCalls.length = 0
      const complex = await ask(
        gateway,
        "Implement a distributed order management system with microservices, event sourcing and a full integration test suite"
      )
      assert.equal(complex.layer, "l3")
      assert.equal(complex.tier, "COMPLEX")
      assert.equal(sidecarCalls.length, 0, "a COMPLEX request never waits on the small model")
    })
  })

  it("keeps classifying in binary mode while the sidecar is too slow to answer", async () => {
    await withClassifier(
      { ISARTOR__LAYER2__CLASSIFIER_MODE: "binary", ISARTOR__LAYER2__TIMEOUT_SECONDS: "1" },
      async (gateway) => {
        const simple = await ask(gateway, "What is the capital of Portugal? Answer slowly")
        assert.equal(simple.tier, "SIMPLE")
        assert.equal(simple.layer, "l3", "the local answer timed out, so L3 answered")
        const complex = await ask(
          gateway,
          "Write a detailed business plan for a restaurant with market analysis and five-year financial projections"
        )
        assert.equal(complex.tier, "COMPLEX")
        assert.equal(complex.layer, "l3")
      }
    )
  })
})

describe("L2 embedded engine (node-llama-cpp)", () => {
  const withEmbedded = async (extra: Record<string, string>, run: (gateway: RunningGateway) => Promise<void>) => {
    const gateway = await startTestGateway(
      upstreamEnv(upstream.url, { ISARTOR__LAYER2__INFERENCE_ENGINE: "embedded", ...extra }),
      {},
      undefined,
      undefined,
      loadEmbeddedEngine
    )
    try {
      await run(gateway)
    } finally {
      await gateway.close()
    }
  }

  it("without a model path: one line saying which variable to set, and requests fall through to L3", async () => {
    await withEmbedded({}, async (gateway) => {
      assert.equal(gateway.warnings.length, 1)
      assert.match(
        gateway.warnings[0]!,
        /embedded L2 engine unavailable: set ISARTOR__EMBEDDED__MODEL_PATH to a GGUF model file; L2 falls through to L3/
      )
      const answer = await ask(gateway, "Write a tsconfig.json for a Node library")
      assert.equal(answer.layer, "l3")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as {
        layers: { l2: { status: string; engine: string } }
      }
      assert.deepEqual([health.layers.l2.status, health.layers.l2.engine], ["unavailable", "embedded"])
    })
  })

  it("with a missing model file: one line naming the file and the variable", async () => {
    const missing = join(tmpdir(), "isartor-no-such-model.gguf")
    await withEmbedded({ ISARTOR__EMBEDDED__MODEL_PATH: missing }, async (gateway) => {
      assert.equal(gateway.warnings.length, 1)
      assert.ok(
        gateway.warnings[0]!.includes(`ISARTOR__EMBEDDED__MODEL_PATH=${missing} does not exist`),
        gateway.warnings[0]
      )
      assert.equal((await ask(gateway, "Write a tsconfig.json for a Node library")).layer, "l3")
    })
  })

  it("without the node-llama-cpp package: one line saying what to install", async () => {
    const model = join(tmpdir(), `isartor-test-${process.pid}.gguf`)
    await writeFile(model, "GGUF")
    await withEmbedded({ ISARTOR__EMBEDDED__MODEL_PATH: model }, async (gateway) => {
      assert.equal(gateway.warnings.length, 1)
      assert.match(gateway.warnings[0]!, /the node-llama-cpp package is not installed \(npm install node-llama-cpp@3\)/)
      assert.equal((await ask(gateway, "Write a tsconfig.json for a Node library")).layer, "l3")
    })
  })
})
