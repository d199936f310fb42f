import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { EmbeddingBackend } from "../core/embedding/Embedder.ts"
import { GatewayStartError, type SemanticBackends, startGateway } from "../core/Gateway.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../runtimes/embedding/inWorker.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { connectRedis } from "../runtimes/redis.ts"
import { eventually } from "./support/eventually.ts"
import { startTestGateway, upstreamEnv } from "./support/gateway.ts"
import { upstreamAndRedis } from "./support/redis.ts"

// A gateway's lifetime is its runtime's: stopping it releases every worker, socket, timer and background fiber it
// started, and a start that fails half-way releases what it had acquired.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()

const servers = upstreamAndRedis()

/** The process's live handles by kind (sockets, timers, workers…), as Node reports them. */
const handles = () => {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}

/**
 * The handles once Node's list has stopped changing (closed sockets and finished timers leave it a moment after
 * their close): the same in three probes running.
 */
const steadyHandles = async () => {
  let last = ""
  let unchanged = 0
  await eventually(() => {
    const now = JSON.stringify(handles())
    unchanged = now === last ? unchanged + 1 : 0
    last = now
    return unchanged >= 2
  }, { what: "Node's list of handles to stop changing", intervalMs: 25 })
  return handles()
}

/** Waits until the handles are `before`'s again, failing with what is left over past the bound. */
const backTo = (before: Record<string, number>) =>
  eventually(() => {
    assert.deepEqual(handles(), before)
    return true
  }, { what: "every handle the gateways opened to be released" })

const ask = async (url: string, prompt: string) => {
  const response = await fetch(`${url}/api/chat`, {
    method: "POST",
    body: JSON.stringify({ prompt }),
    headers: { connection: "close" }
  })
  await response.arrayBuffer()
  return response.headers.get("x-isartor-layer")
}

describe("gateway lifetime", () => {
  it("starts and stops 50 times (Redis, L1b, requests in flight) and leaves no handle behind", async () => {
    const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }
    const env = upstreamEnv(servers.upstream.url, {
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__REDIS_URL: servers.redis.url
    })
    // One round first: modules, pools and lazily made timers of the libraries exist from then on.
    const warmUp = await startTestGateway(env, {}, backends, connectRedis)
    await ask(warmUp.url, "warm up")
    await warmUp.close()
    const before = await steadyHandles()
    for (let round = 0; round < 50; round++) {
      const gateway = await startTestGateway(env, {}, backends, connectRedis)
      assert.equal(await ask(gateway.url, `question ${round}`), "l3")
      // A miss whose L1b insert and Redis writes may still be running when the gateway stops.
      void ask(gateway.url, `another question ${round}`).catch(() => undefined)
      await gateway.close()
    }
    await backTo(before)
  })

  it("stops the embedding worker with the gateway", async () => {
    const backends: SemanticBackends = {
      loadEmbedder: () => loadEmbedderInWorker(new URL("../runtimes/embedding/worker-node.mjs", import.meta.url)),
      loadHnswlib: async () => hnswlib
    }
    const before = await steadyHandles()
    for (let round = 0; round < 3; round++) {
      const gateway = await startTestGateway(upstreamEnv(servers.upstream.url), {}, backends)
      assert.equal(await ask(gateway.url, `question ${round}`), "l3")
      await gateway.close()
    }
    await backTo(before)
  })

  it("releases what a start acquired when a later step fails", async () => {
    let loaded = 0
    let disposed = 0
    const tracked: EmbeddingBackend = { ...model, dispose: async () => void disposed++ }
    const backends: SemanticBackends = {
      loadEmbedder: async () => (loaded++, tracked),
      loadHnswlib: async () => hnswlib
    }
    await assert.rejects(
      startGateway(
        {
          env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ISARTOR__CACHE_BACKEND: "redis" },
          readTextFile: async () => undefined
        },
        {
          log: { info: () => undefined, warn: () => undefined },
          semantic: backends,
          redis: () => Promise.reject(new Error("no route to the Redis host"))
        }
      ),
      (error: unknown) =>
        error instanceof GatewayStartError && /cannot connect to Redis: no route to the Redis host/.test(error.message)
    )
    assert.equal(loaded, 1)
    assert.equal(disposed, 1, "the embedding model loaded before the failure was released")
  })
})
