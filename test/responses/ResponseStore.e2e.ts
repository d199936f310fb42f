import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { RedisConnection } from "../../core/Gateway.ts"
import { makeRedisResponseStore } from "../../core/responses/RedisResponseStore.ts"
import {
  entryBytes,
  makeMemoryResponseStore,
  type ResponseStoreShape,
  type StoredResponse
} from "../../core/responses/ResponseStore.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { eventually } from "../support/eventually.ts"
import { startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { redisAndCluster } from "../support/redis.ts"

// The cases every `/v1/responses` store passes (in memory, one Redis, a Redis Cluster), run once per backend.

const servers = redisAndCluster()
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`

const entryOf = (tenant: string, text: string): StoredResponse => ({
  tenant,
  response: { id: text, object: "response", output_text: text },
  conversation: [{ role: "user", content: `q ${text}` }, { role: "assistant", content: text }]
})
/** Every entry of these tests has the same size: ids and texts of one length. */
const SIZE = entryBytes(entryOf("t", "resp_00000"))
const idOf = (n: number) => `resp_${String(n).padStart(5, "0")}`

interface Backend {
  readonly make: (maxBytes: number, ttlMs: number) => Promise<ResponseStoreShape>
  /** Whether the byte bound is each caller's (Redis) rather than all callers' together (memory). */
  readonly perCaller: boolean
}

const connections: Array<RedisConnection> = []
after(async () => {
  await Promise.all(connections.map((connection) => connection.close()))
})
const onRedis = (url: () => string): Backend => ({
  perCaller: true,
  make: async (maxBytes, ttlMs) => {
    const connection = await connectRedis(url())
    connections.push(connection)
    return makeRedisResponseStore(connection.commands, maxBytes, ttlMs)
  }
})

const backends: Record<string, Backend> = {
  memory: { perCaller: false, make: async (maxBytes, ttlMs) => makeMemoryResponseStore(maxBytes, ttlMs) },
  redis: onRedis(() => servers.redis.url),
  "redis cluster": onRedis(() => servers.cluster.url)
}

for (const [name, backend] of Object.entries(backends)) {
  describe(`response store: ${name}`, () => {
    let store: ResponseStoreShape
    before(async () => {
      store = await backend.make(64 * 1024 * 1024, 60_000)
    })

    it("gives a response back to its caller only, and deletes it for its caller only", async () => {
      const [owner, other] = [unique("owner"), unique("other")]
      const entry = entryOf(owner, "resp_kept")
      await store.save("resp_kept", entry)
      assert.deepEqual(await store.get("resp_kept", owner), entry)
      assert.equal(await store.get("resp_kept", other), undefined)
      assert.equal(await store.remove("resp_kept", other), false)
      assert.deepEqual(await store.get("resp_kept", owner), entry)
      assert.equal(await store.remove("resp_kept", owner), true)
      assert.equal(await store.get("resp_kept", owner), undefined)
      assert.equal(await store.remove("resp_kept", owner), false)
    })

    it("forgets a response once its TTL has passed", async () => {
      const shortLived = await backend.make(64 * 1024, 300)
      const tenant = unique("ttl")
      await shortLived.save("resp_short", entryOf(tenant, "resp_short"))
      assert.ok(await shortLived.get("resp_short", tenant))
      await eventually(async () => (await shortLived.get("resp_short", tenant)) === undefined, {
        what: "the response to expire after 300 ms"
      })
    })

    it("keeps to its byte bound, dropping the oldest first; one larger than the bound is not kept", async () => {
      const bounded = await backend.make(SIZE * 3, 60_000)
      const tenant = unique("bounded")
      for (let n = 1; n <= 5; n++) await bounded.save(idOf(n), entryOf(tenant, idOf(n)))
      // Saving one again replaces it, it does not count twice.
      await bounded.save(idOf(5), entryOf(tenant, idOf(5)))
      const kept = await Promise.all(
        [1, 2, 3, 4, 5].map(async (n) => (await bounded.get(idOf(n), tenant)) !== undefined)
      )
      assert.deepEqual(kept, [false, false, true, true, true])

      const huge = { ...entryOf(tenant, "resp_huge"), response: { text: "x".repeat(SIZE * 4) } }
      await bounded.save("resp_huge", huge)
      assert.equal(await bounded.get("resp_huge", tenant), undefined)
      assert.ok(await bounded.get(idOf(5), tenant), "a refused entry evicts nothing")

      if (backend.perCaller) {
        // Another caller filling its own share leaves this one's alone.
        const other = unique("neighbour")
        for (let n = 1; n <= 3; n++) await bounded.save(idOf(n), entryOf(other, idOf(n)))
        assert.ok(await bounded.get(idOf(3), tenant))
        assert.ok(await bounded.get(idOf(1), other))
      }
    })

    if (backend.perCaller) {
      it("shares responses between stores on the same Redis (replicas)", async () => {
        const replica = await backend.make(64 * 1024 * 1024, 60_000)
        const tenant = unique("shared")
        await store.save("resp_shared", entryOf(tenant, "resp_shared"))
        assert.deepEqual(await replica.get("resp_shared", tenant), entryOf(tenant, "resp_shared"))
        assert.equal(await replica.remove("resp_shared", tenant), true)
        assert.equal(await store.get("resp_shared", tenant), undefined)
      })
    }
  })
}

describe("response store: Redis down", () => {
  it("fails its calls (the route answers 503) and works again once Redis is back", async () => {
    const store = await backends.redis!.make(64 * 1024, 60_000)
    const tenant = unique("outage")
    await servers.redis.stop()
    try {
      await assert.rejects(store.get("resp_any", tenant))
      await assert.rejects(store.save("resp_any", entryOf(tenant, "resp_any")))
    } finally {
      await servers.redis.start()
    }
    await eventually(() => store.save("resp_back", entryOf(tenant, "resp_back")).then(() => true), {
      what: "the store to save again once Redis is back",
      timeoutMs: 15_000,
      intervalMs: 100
    })
    assert.ok(await store.get("resp_back", tenant))
  })
})

describe("/v1/responses with its store in Redis", () => {
  it("answers 503 response_store_unavailable, not 'not found', while Redis is down", async () => {
    const upstream = await startFakeOpenAI()
    const gateway = await startTestGateway(
      upstreamEnv(upstream.url, {
        ISARTOR__CACHE_BACKEND: "redis",
        ISARTOR__REDIS_URL: servers.redis.url,
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__LLM_PROVIDER: "openai-compatible"
      }),
      {},
      undefined,
      connectRedis
    )
    const post = (body: Record<string, unknown>) =>
      fetch(`${gateway.url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", ...body })
      })
    try {
      const first = await post({ input: "kept in Redis" })
      assert.equal(first.status, 200)
      const { id } = (await first.json()) as { id: string }
      await servers.redis.stop()
      try {
        const next = await post({ input: "and then?", previous_response_id: id })
        assert.equal(next.status, 503)
        const body = (await next.json()) as { error: { code: string } }
        assert.equal(body.error.code, "response_store_unavailable")
        assert.equal((await fetch(`${gateway.url}/v1/responses/${id}`)).status, 503)
      } finally {
        await servers.redis.start()
      }
      // This Redis keeps nothing across a restart. Meanwhile answers are served, unstored (the log says so); once the
      // client has reconnected, a new conversation is stored and continued again.
      await eventually(async () => {
        const response = await post({ input: "after the outage" })
        const { id: again } = (await response.json()) as { id: string }
        return (await post({ input: "and then?", previous_response_id: again })).status === 200
      }, { what: "a conversation to be stored and continued once Redis is back", timeoutMs: 15_000, intervalMs: 100 })
      assert.ok(
        gateway.warnings.some((line) => /could not store resp_\w+ \(redis\)/.test(line)),
        gateway.warnings.join("\n")
      )
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })
})
