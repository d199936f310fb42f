import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { after, before, describe, it } from "node:test"
import { fileURLToPath } from "node:url"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { makeGate } from "../support/fakeProviders.ts"
import { upstreamEnv } from "../support/gateway.ts"
import {
  projectRoot,
  runtimeCommand,
  type RuntimeName,
  type StartedProcess,
  startProcess
} from "../support/processes.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"

const runtimes: Array<RuntimeName> = ["node", "bun", "deno"]
const tinyBert = fileURLToPath(new URL("../fixtures/tiny-bert", import.meta.url))

const startRuntime = (runtime: RuntimeName, env: Record<string, string>) =>
  startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), { ISARTOR__HOST_PORT: "127.0.0.1:0", ...env })

/** Why to stop waiting on a gateway: it has exited (with what it printed). */
const exited = (gateway: StartedProcess) =>
  gateway.child.exitCode === null ? undefined : `it exited with code ${gateway.child.exitCode}:\n${gateway.output()}`

const chat = (url: string, content: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
  })

let upstream: FakeOpenAI
let redis: RedisServer
before(async () => {
  upstream = await startFakeOpenAI()
  redis = await startRedis()
})
after(async () => {
  await upstream.close()
  await redis.stop()
})

for (const name of runtimes) {
  describe(`runtime: ${name}`, () => {
    it("serves a miss from upstream, then the same request from L1a", async () => {
      const gateway = await startRuntime(name, upstreamEnv(upstream.url))
      try {
        const callsBefore = upstream.calls.length
        const first = await chat(gateway.url, `hello from ${name}`)
        assert.equal(first.status, 200, gateway.output())
        assert.equal(first.headers.get("x-isartor-layer"), "l3")
        const firstBody = (await first.json()) as { choices: Array<{ message: { content: string } }> }
        assert.equal(firstBody.choices[0]?.message.content, `Answer #1 to: hello from ${name}`)
        const second = await chat(gateway.url, `hello from ${name}`)
        assert.equal(second.headers.get("x-isartor-layer"), "l1a")
        // Bun and Deno send a hit's headers from one shared Headers: the same fields as everywhere.
        assert.equal(second.headers.get("content-type"), "application/json")
        assert.equal(second.headers.get("x-isartor-deflected"), "true")
        assert.equal(second.headers.get("x-isartor-cache-key"), first.headers.get("x-isartor-cache-key"))
        assert.match(second.headers.get("age") ?? "", /^\d+$/)
        assert.deepEqual(await second.json(), firstBody)
        assert.equal(upstream.calls.length, callsBefore + 1)
      } finally {
        gateway.stop()
      }
    })

    // The entry points load the Redis client only when a Redis backend is configured.
    it("keeps L1a in Redis (ISARTOR__CACHE_BACKEND=redis): a second gateway on the same Redis answers from it", async () => {
      const env = upstreamEnv(upstream.url, { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: redis.url })
      const prompt = `kept in Redis by ${name} ${Date.now()}`
      const first = await startRuntime(name, env)
      try {
        const miss = await chat(first.url, prompt)
        assert.equal(miss.headers.get("x-isartor-layer"), "l3", first.output())
        await miss.text()
      } finally {
        first.stop()
      }
      const second = await startRuntime(name, env)
      try {
        const health = (await (await fetch(`${second.url}/health`)).json()) as {
          layers: { l1a: { backend: string } }
        }
        assert.equal(health.layers.l1a.backend, "redis")
        const hit = await chat(second.url, prompt)
        assert.equal(hit.headers.get("x-isartor-layer"), "l1a", second.output())
      } finally {
        second.stop()
      }
    })

    it("embeds with a transformers.js model directory on its worker thread (ISARTOR__EMBEDDING_MODEL_PATH)", async () => {
      const gateway = await startRuntime(
        name,
        // About the model directory; the false-hit budget is tested in test/cache/semantic/ErrorBudget*.test.ts.
        upstreamEnv(upstream.url, { ISARTOR__EMBEDDING_MODEL_PATH: tinyBert, ISARTOR__L1B_ERROR_BUDGET: "1" })
      )
      try {
        const first = await chat(gateway.url, `How do I reset my password on ${name}?`)
        assert.equal(first.headers.get("x-isartor-layer"), "l3", gateway.output())
        // The L1b insert runs beside the answer: ask until it has landed (`no-store`, so a miss is not cached in L1a).
        await eventually(async () => {
          const paraphrase = await chat(gateway.url, `How can I reset my password on ${name}?`, {
            "cache-control": "no-store"
          })
          await paraphrase.body?.cancel()
          return paraphrase.headers.get("x-isartor-layer") === "l1b"
        }, { what: `the paraphrase to be an L1b hit on ${name}`, failFast: () => exited(gateway) })
      } finally {
        gateway.stop()
      }
    })

    it("on SIGTERM: /healthz answers 503 while it drains, the in-flight request finishes, then it exits", async () => {
      // The drain window only has to outlast two local probes; the request's answer waits on the gate, not on it.
      const gateway = await startRuntime(name, upstreamEnv(upstream.url, { ISARTOR__SHUTDOWN_DRAIN_SECS: "10" }))
      const gate = makeGate()
      try {
        // The provider holds its answer until the gate opens: the request is in flight for as long as the checks take.
        upstream.queue.push({ kind: "ok", gate: gate.closed })
        const inFlight = chat(gateway.url, `slow request on ${name}`)
        // Awaited below; a failure while the gate is shut is reported there, not as an unhandled rejection.
        void inFlight.catch(() => undefined)
        await eventually(
          () => upstream.calls.some((call) => JSON.stringify(call.body).includes(`slow request on ${name}`)),
          {
            what: "the slow request to reach the provider"
          }
        )
        const exited = once(gateway.child, "exit")
        gateway.child.kill("SIGTERM")
        // Draining: a load balancer's health check fails while every other route still serves.
        await eventually(async () => (await fetch(`${gateway.url}/healthz`)).status === 503, {
          what: "/healthz to answer 503 once SIGTERM arrived",
          failFast: () => (gateway.child.exitCode === null ? undefined : `it exited:\n${gateway.output()}`)
        })
        assert.equal((await fetch(`${gateway.url}/health`)).status, 200)
        gate.open()
        const response = await inFlight
        assert.equal(response.status, 200)
        assert.match(
          ((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content,
          /slow request/
        )
        const [code] = await exited
        assert.equal(code, 0, gateway.output())
      } finally {
        gate.open()
        gateway.stop()
      }
    })
  })
}

describe("runtime start-up errors", () => {
  it("stops with exit code 1 when the embedding model directory is missing, naming the path and the variable", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "runtimes/node.ts"], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH ?? "",
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__EMBEDDING_MODEL_PATH: "/nonexistent/minilm"
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const [code] = await once(child, "exit")
    assert.equal(code, 1)
    assert.match(
      stderr,
      /cannot load the embedding model: no model at \/nonexistent\/minilm \(ISARTOR__EMBEDDING_MODEL_PATH\)/
    )
  })

  it("stops with exit code 1 and a message naming the variable", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "runtimes/node.ts"], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? "", ISARTOR__CACHE_TTL_SECS: "forever" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const [code] = await once(child, "exit")
    assert.equal(code, 1)
    assert.match(stderr, /ISARTOR__CACHE_TTL_SECS = "forever": expected a whole number/)
  })
})
