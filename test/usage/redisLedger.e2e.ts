import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { connectRedis } from "../../runtimes/redis.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { upstreamAndRedis } from "../support/redis.ts"

// Two replicas on one Redis: the ledger either reads is the same one, with both replicas' requests in it.

const servers = upstreamAndRedis()

describe("the usage ledger in Redis", () => {
  it("two gateways on one redis-server write one ledger", async () => {
    const env = upstreamEnv(servers.upstream.url, {
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__REDIS_URL: servers.redis.url
    })
    const replicas = [
      await startTestGateway(env, {}, undefined, connectRedis),
      await startTestGateway(env, {}, undefined, connectRedis)
    ]
    try {
      const ask = async (url: string, content: string) => {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
        })
        await response.text()
        return response.headers.get("x-isartor-layer")
      }
      assert.equal(await ask(replicas[0]!.url, "one ledger?"), "l3")
      assert.equal(await ask(replicas[1]!.url, "one ledger?"), "l1a")
      assert.equal(await ask(replicas[1]!.url, "two replicas?"), "l3")
      for (const replica of replicas) await Effect.runPromise(replica.gateway.usage.flush)
      const now = Date.now()
      const window = { since: now - 3_600_000, until: now + 1 }
      const [first, second] = await Promise.all(
        replicas.map((replica) => Effect.runPromise(replica.gateway.usage.report(window, "layer")))
      )
      assert.deepEqual(first!.total, second!.total)
      assert.deepEqual(first!.total.layers, { l3: 2, l1a: 1 })
      const [l3] = await Effect.runPromise(replicas[0]!.gateway.usage.recent(1))
      assert.equal(l3?.layer, "l3")
      assert.equal(first!.total.tokens_saved > 0, true)
      assert.equal(first!.total.cost_saved_usd > 0, true)
    } finally {
      for (const replica of replicas) await replica.close()
    }
  })
})
