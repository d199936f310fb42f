import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { fileURLToPath } from "node:url"
import OpenAI from "openai"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker, type WorkerEmbeddingBackend } from "../../runtimes/embedding/inWorker.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { startRedis } from "../support/redis.ts"

/**
 * Faults on real loopback servers — the upstream, the L2 sidecar, Redis, the embedding worker — and what a client
 * sees meanwhile. Every failure a client sees is counted; the only ones allowed are the documented 502 and 429.
 * Streams under faults are test/reliability/streams.test.ts's.
 */

interface Answered {
  readonly status: number
  readonly layer: string | null
  readonly message: string
}

/** A prompt on the native endpoint; a client gives up after 10 s, so a hang is a counted failure, not a stuck test. */
const ask = async (gateway: RunningGateway, prompt: string): Promise<Answered> => {
  const response = await fetch(`${gateway.url}/api/chat`, {
    method: "POST",
    body: JSON.stringify({ prompt }),
    signal: AbortSignal.timeout(10_000)
  })
  const body = (await response.json()) as { message?: string; error?: { message: string } }
  const message = body.message ?? body.error?.message ?? ""
  return { status: response.status, layer: response.headers.get("x-isartor-layer"), message }
}

type LayerHealth = { readonly status: string; readonly reason?: string }
const health = async (gateway: RunningGateway) =>
  (await (await fetch(`${gateway.url}/health`)).json()) as { layers: Record<string, LayerHealth> }
const layerStatus = async (gateway: RunningGateway, layer: string) => (await health(gateway)).layers[layer]?.status

/**
 * `clients` concurrent clients, each asking `next(client, i)` in a loop until `stop` (or `maxPerClient` requests),
 * tallying answers by phase and layer and keeping every client-visible failure (non-200, network error, timeout).
 */
const startLoad = (
  gateway: RunningGateway,
  next: (client: number, i: number) => string,
  clients = 8,
  maxPerClient = 400
) => {
  let running = true
  let phase = "before"
  const layers = new Map<string, number>()
  const failures: Array<string> = []
  let requests = 0
  const loops = Array.from({ length: clients }, async (_, client) => {
    for (let i = 0; running && i < maxPerClient; i++) {
      const prompt = next(client, i)
      const askedIn = phase
      try {
        const answer = await ask(gateway, prompt)
        requests++
        if (answer.status !== 200) failures.push(`${askedIn}: ${prompt}: ${answer.status} ${answer.message}`)
        else layers.set(`${askedIn}:${answer.layer}`, (layers.get(`${askedIn}:${answer.layer}`) ?? 0) + 1)
      } catch (error) {
        requests++
        failures.push(`${askedIn}: ${prompt}: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
  })
  return {
    layers,
    failures,
    requests: () => requests,
    count: (phaseName: string, layer: string) => layers.get(`${phaseName}:${layer}`) ?? 0,
    /** One line for the test's diagnostics: requests, failures, answers by phase and layer. */
    summary: () =>
      `${requests} requests, ${failures.length} client-visible failures; ` +
      [...layers].map(([key, n]) => `${key} ${n}`).join(", "),
    setPhase: (name: string) => void (phase = name),
    stop: async () => {
      running = false
      await Promise.all(loops)
    }
  }
}

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

const withGateway = async (
  env: Record<string, string>,
  run: (gateway: RunningGateway) => Promise<void>,
  options: { readonly semantic?: SemanticBackends; readonly redis?: typeof connectRedis } = {}
) => {
  const gateway = await startTestGateway(upstreamEnv(upstream.url, env), {}, options.semantic, options.redis)
  try {
    await run(gateway)
  } finally {
    await gateway.close()
  }
}

describe("upstream faults reach non-streamed SDK clients as one clear error", () => {
  // Short timeouts and retry waits keep the file fast; the behaviour is the same at the defaults.
  const env = { ISARTOR__L3_TIMEOUT_SECS: "1", ISARTOR__L3_MAX_RETRIES: "1", ISARTOR__L3_RETRY_BASE_MS: "10" }
  type Outcome = { readonly status: number; readonly message: string; readonly retryAfter: string | null }
  const clients: Record<string, (gateway: RunningGateway, prompt: string) => Promise<Outcome>> = {
    openai: async (gateway, prompt) => {
      const client = new OpenAI({ apiKey: "caller-key", baseURL: `${gateway.url}/v1`, maxRetries: 0, timeout: 10_000 })
      try {
        await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] })
        return { status: 200, message: "", retryAfter: null }
      } catch (error) {
        if (!(error instanceof OpenAI.APIError) || error.status === undefined) throw error
        return { status: error.status, message: error.message, retryAfter: error.headers?.get("retry-after") ?? null }
      }
    },
    anthropic: async (gateway, prompt) => {
      const client = new Anthropic({ apiKey: "caller-key", baseURL: gateway.url, maxRetries: 0, timeout: 10_000 })
      try {
        const messages = [{ role: "user" as const, content: prompt }]
        await client.messages.create({ model: "gpt-4o-mini", max_tokens: 64, messages })
        return { status: 200, message: "", retryAfter: null }
      } catch (error) {
        if (!(error instanceof Anthropic.APIError) || error.status === undefined) throw error
        return { status: error.status, message: error.message, retryAfter: error.headers?.get("retry-after") ?? null }
      }
    }
  }

  for (const [name, send] of Object.entries(clients)) {
    const title = `${name}: a slow upstream is a 502 saying it timed out; 500s are a 502 after the retries; ` +
      "429 stays 429 with Retry-After"
    it(title, async () => {
      await withGateway(env, async (gateway) => {
        const unexpected: Array<string> = []
        const expect = (what: string, outcome: Outcome, status: number, message: RegExp) => {
          if (outcome.status !== status || !message.test(outcome.message)) {
            unexpected.push(`${what}: ${outcome.status} ${outcome.message}`)
          }
        }

        upstream.calls.length = 0
        upstream.queue.push({ kind: "hang" }, { kind: "hang" })
        expect("slow", await send(gateway, `${name} slow`), 502, /provider openai.*no answer within 1 s/)
        assert.equal(upstream.calls.length, 2, "a timeout is retried once")

        upstream.calls.length = 0
        upstream.queue.push(
          { kind: "error", status: 500, message: "boom" },
          { kind: "error", status: 500, message: "boom again" }
        )
        expect("500", await send(gateway, `${name} failing`), 502, /provider openai.*boom again/)
        assert.equal(upstream.calls.length, 2, "a 500 is retried once")

        upstream.queue.push(
          { kind: "error", status: 429, message: "slow down", headers: { "retry-after-ms": "20" } },
          { kind: "error", status: 429, message: "slow down more", headers: { "retry-after": "7" } }
        )
        const limited = await send(gateway, `${name} limited`)
        expect("429", limited, 429, /slow down more/)
        if (limited.retryAfter !== "7") unexpected.push(`429 without the upstream's Retry-After: ${limited.retryAfter}`)

        // No fault is sticky: the next request is answered.
        expect("healthy", await send(gateway, `${name} healthy`), 200, /^$/)
        assert.deepEqual(unexpected, [], "every client-visible failure is the documented one")
      })
    })
  }
})

/** An OpenAI-compatible sidecar: classifies "capital" questions SIMPLE and answers them, the rest COMPLEX. */
const startSidecar = async (port = 0) => {
  const server: Server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" })
      if (req.method === "GET") {
        return void res.end(JSON.stringify({ object: "list", data: [{ id: "tiny-model", object: "model" }] }))
      }
      type Body = { model: string; messages: Array<{ content: string }> }
      const body = JSON.parse(Buffer.concat(chunks).toString()) as Body
      const isClassification = body.messages[0]!.content.startsWith("Classify")
      const text = body.messages[body.messages.length - 1]!.content
      const content = isClassification ? (/capital/i.test(text) ? "SIMPLE" : "COMPLEX") : `Local answer for: ${text}`
      res.end(JSON.stringify({
        id: "chatcmpl-sidecar",
        object: "chat.completion",
        created: 1_700_000_000,
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }
      }))
    })
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    /** As a killed process: open connections reset, the port refuses. */
    kill: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

describe("L2 sidecar killed under load", () => {
  it("L3 answers every request meanwhile, /health shows l2 unavailable, L2 answers once back", async (t) => {
    let sidecar = await startSidecar()
    const env = {
      ISARTOR__ENABLE_SLM_ROUTER: "true",
      ISARTOR__LAYER2__SIDECAR_URL: `http://127.0.0.1:${sidecar.port}`,
      ISARTOR__LAYER2__MODEL_NAME: "tiny-model",
      ISARTOR__LAYER2__CLASSIFIER_MODE: "binary",
      ISARTOR__LAYER2__TIMEOUT_SECONDS: "2"
    }
    try {
      await withGateway(env, async (gateway) => {
        assert.equal((await ask(gateway, "What is the capital of France?")).layer, "l2")
        // Half the prompts are SIMPLE (L2's), half COMPLEX (L3's); all unique, so no cache answers them.
        const prompt = (client: number, i: number) =>
          i % 2 === 0 ? `What is the capital of country ${client}-${i}?` : `Explain topic ${client}-${i} in depth`
        const load = startLoad(gateway, prompt, 4)
        await eventually(() => load.count("before", "l2") > 0, { what: "L2 to answer under load", intervalMs: 50 })
        await sidecar.kill()
        // Requests asked from now on cannot reach it (those already in flight may still have).
        load.setPhase("down")
        const l2 = (await health(gateway)).layers.l2!
        assert.equal(l2.status, "unavailable")
        assert.ok(l2.reason, "with a reason")
        await eventually(() => load.count("down", "l3") >= 20, {
          what: "20 answers from L3 while L2 is down",
          intervalMs: 50
        })
        assert.equal(load.count("down", "l2"), 0)

        sidecar = await startSidecar(sidecar.port)
        load.setPhase("back")
        await eventually(() => load.count("back", "l2") > 0, { what: "L2 to answer again", intervalMs: 50 })
        await load.stop()
        t.diagnostic(load.summary())
        assert.equal((await health(gateway)).layers.l2!.status, "ok")
        assert.deepEqual(load.failures, [], `client-visible failures out of ${load.requests()} requests`)
      })
    } finally {
      await sidecar.kill()
    }
  })
})

describe("Redis killed and restarted under concurrent load", () => {
  it("8 clients see no failure; exact hits come back from Redis after the restart", async (t) => {
    const redis = await startRedis()
    const env = { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: redis.url }
    try {
      await withGateway(env, async (gateway) => {
        const hot = Array.from({ length: 8 }, (_, i) => `Hot question number ${i}?`)
        for (const prompt of hot) assert.equal((await ask(gateway, prompt)).status, 200)
        assert.equal((await ask(gateway, hot[0]!)).layer, "l1a")
        // Mixed: even requests repeat a hot question (an L1a hit while Redis is up), odd ones are new.
        const prompt = (client: number, i: number) =>
          i % 2 === 0 ? hot[(client + i) % hot.length]! : `Fresh question ${client}-${i}?`
        const load = startLoad(gateway, prompt)
        await eventually(() => load.count("before", "l1a") >= 20, { what: "20 exact hits under load", intervalMs: 50 })

        await redis.stop()
        load.setPhase("down")
        const l1aUnavailable = async () => (await layerStatus(gateway, "l1a")) === "unavailable"
        await eventually(l1aUnavailable, { what: "/health to say L1a is unavailable", intervalMs: 50 })
        // Down long enough for the client's reconnect attempts to back off.
        await eventually(() => load.count("down", "l3") >= 100, {
          what: "100 answers from L3 while Redis is down",
          timeoutMs: 15_000,
          intervalMs: 50
        })

        // Same port, empty (no persistence): hot questions miss once, are stored again, then hit.
        await redis.start()
        load.setPhase("back")
        await eventually(() => load.count("back", "l1a") >= 20, {
          what: "exact hits to resume",
          timeoutMs: 15_000,
          intervalMs: 50
        })
        await load.stop()
        t.diagnostic(load.summary())
        assert.deepEqual(load.failures, [], `client-visible failures out of ${load.requests()} requests`)
        assert.equal((await health(gateway)).layers.l1a!.status, "ok")
      }, { redis: connectRedis })
      // A second replica, with nothing in memory, gets the same hit: it is in Redis.
      await withGateway(env, async (replica) => {
        assert.equal((await ask(replica, "Hot question number 3?")).layer, "l1a")
      }, { redis: connectRedis })
    } finally {
      await redis.stop()
    }
  })
})

describe("embedding worker crashed under load", () => {
  const fixture = fileURLToPath(new URL("../fixtures/tiny-bert", import.meta.url))
  const workerEntry = new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url)

  it("requests fall through to L3 while it restarts, /health says so, and L1b hits resume after", async (t) => {
    let worker: WorkerEmbeddingBackend | undefined
    const hnswlib = await loadHnswlib()
    const backends: SemanticBackends = {
      loadEmbedder: async (choice) => (worker = await loadEmbedderInWorker(workerEntry, { ...choice, cacheDir: "" })),
      loadHnswlib: async () => hnswlib
    }
    // Semantic only: a repeated question is L1b's, not L1a's.
    const env = { ISARTOR__CACHE_MODE: "semantic", ISARTOR__EMBEDDING_MODEL_PATH: fixture }
    await withGateway(env, async (gateway) => {
      const hot = Array.from({ length: 4 }, (_, i) => `How do I reset the password of account ${i}?`)
      for (const prompt of hot) assert.equal((await ask(gateway, prompt)).status, 200)
      await eventually(async () => (await ask(gateway, hot[0]!)).layer === "l1b", {
        what: "a hot question to be an L1b hit",
        intervalMs: 50
      })
      const prompt = (client: number, i: number) =>
        i % 2 === 0 ? hot[(client + i) % hot.length]! : `Fresh question about topic ${client}-${i}?`
      const load = startLoad(gateway, prompt)
      await eventually(() => load.count("before", "l1b") >= 10, { what: "10 L1b hits under load", intervalMs: 50 })

      await worker!.crashForTesting()
      load.setPhase("down")
      const l1b = (await health(gateway)).layers.l1b!
      assert.equal(l1b.status, "restarting")
      assert.match(l1b.reason ?? "", /embedding worker/)
      // A new question needs the model: while it is down the request goes on to L3.
      assert.equal((await ask(gateway, "Where can I download my invoices?")).layer, "l3")

      const l1bOk = async () => (await layerStatus(gateway, "l1b")) === "ok"
      await eventually(l1bOk, { what: "the worker to be back", timeoutMs: 30_000, intervalMs: 50 })
      load.setPhase("back")
      // New questions, embedded by the restarted worker: stored, then a rephrasing is an L1b hit.
      assert.equal((await ask(gateway, "How do I change my billing address?")).layer, "l3")
      const rephrased = async () => (await ask(gateway, "How can I change my billing address?")).layer === "l1b"
      await eventually(rephrased, { what: "L1b hits to resume", intervalMs: 50 })
      await eventually(() => load.count("back", "l3") + load.count("back", "l1b") >= 20, {
        what: "20 answers after the restart",
        intervalMs: 50
      })
      await load.stop()
      t.diagnostic(load.summary())
      assert.ok(load.count("down", "l3") > 0, "requests kept being answered while the worker was down")
      assert.deepEqual(load.failures, [], `client-visible failures out of ${load.requests()} requests`)
    }, { semantic: backends })
  })
})
