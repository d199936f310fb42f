import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { createClient } from "redis"
import { exactKeyPrefix } from "../../../core/cache/exact/RedisExactStore.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { eventually } from "../../support/eventually.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../../support/gateway.ts"
import { upstreamAndRedis } from "../../support/redis.ts"

const servers = upstreamAndRedis()

const startReplica = (extra: Record<string, string> = {}) =>
  startTestGateway(
    upstreamEnv(servers.upstream.url, {
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__REDIS_URL: servers.redis.url,
      ISARTOR__L3_MAX_RETRIES: "0",
      ...extra
    }),
    {},
    undefined,
    connectRedis
  )

const ask = async (gateway: RunningGateway, prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
  return {
    status: response.status,
    layer: response.headers.get("x-isartor-layer"),
    body: (await response.json()) as { message?: string }
  }
}

describe("L1a on Redis", () => {
  it("shares entries between replicas, as compact values that expire with the TTL", async () => {
    const a = await startReplica({ ISARTOR__CACHE_TTL_SECS: "120" })
    const b = await startReplica()
    try {
      assert.equal((await ask(a, "shared across replicas")).layer, "l3")
      assert.equal((await ask(a, "shared across replicas")).layer, "l1a")
      const fromB = await ask(b, "shared across replicas")
      assert.equal(fromB.layer, "l1a", "replica B serves what replica A cached")
      assert.equal(fromB.body.message, "Answer #1 to: shared across replicas")

      const client = createClient({ url: servers.redis.url })
      await client.connect()
      const keys = await client.keys(`${exactKeyPrefix}*`)
      assert.equal(keys.length, 1)
      const value = (await client.get(keys[0]!))!
      assert.equal(value, JSON.stringify(JSON.parse(value)), "stored compact, no pretty-printing")
      const ttl = await client.pTTL(keys[0]!)
      assert.ok(ttl > 0 && ttl <= 120_000)
      await client.flushDb()
      await client.close()
      assert.equal((await ask(b, "shared across replicas")).layer, "l3", "FLUSHDB empties the cache")
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("keeps a cached answer across a gateway restart", async () => {
    const first = await startReplica()
    let cached: string | undefined
    try {
      assert.equal((await ask(first, "survives a restart")).layer, "l3")
      cached = (await ask(first, "survives a restart")).body.message
    } finally {
      await first.close()
    }
    const second = await startReplica()
    try {
      const answer = await ask(second, "survives a restart")
      assert.equal(answer.layer, "l1a")
      assert.equal(answer.body.message, cached)
    } finally {
      await second.close()
    }
  })

  it("falls through while Redis is down — no failed request — and caches again once it is back", async () => {
    const gateway = await startReplica()
    try {
      await ask(gateway, "before the outage")
      await servers.redis.stop()
      for (const prompt of ["before the outage", "during the outage", "during the outage"]) {
        const answer = await ask(gateway, prompt)
        assert.equal(answer.status, 200)
        assert.equal(answer.layer, "l3")
      }
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1a: { status: string } } }
      assert.equal(health.layers.l1a.status, "unavailable")
      await servers.redis.start()
      // The gateway reconnects in the background: it writes and hits again once it has.
      await eventually(async () => {
        await ask(gateway, "after the outage")
        return (await ask(gateway, "after the outage")).layer === "l1a"
      }, { what: "the cache to work again after Redis returns", timeoutMs: 30_000, intervalMs: 100 })
    } finally {
      await gateway.close()
    }
  })

  it("starts with a malformed REDIS_URL, says so once, and answers every request", async () => {
    const gateway = await startReplica({ ISARTOR__REDIS_URL: "localhost:6379" })
    try {
      assert.equal(gateway.warnings.length, 1)
      assert.match(gateway.warnings[0]!, /ISARTOR__REDIS_URL is not a redis:\/\/ or rediss:\/\/ URL/)
      assert.equal((await ask(gateway, "malformed redis url")).status, 200)
      assert.equal((await ask(gateway, "malformed redis url")).layer, "l3")
    } finally {
      await gateway.close()
    }
  })

  it("starts while Redis is unreachable, with one warning that hides the password", async () => {
    const gateway = await startReplica({ ISARTOR__REDIS_URL: "redis://user:s3cret@127.0.0.1:9/0" })
    try {
      assert.equal(gateway.warnings.length, 1)
      assert.match(gateway.warnings[0]!, /Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:9\/0 is unreachable/)
      assert.ok(!gateway.warnings[0]!.includes("s3cret"))
      assert.equal((await ask(gateway, "no redis at all")).status, 200)
    } finally {
      await gateway.close()
    }
  })
})
