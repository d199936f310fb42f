import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { createClient } from "redis"
import { shippedDecision } from "../../../core/cache/semantic/decision/weights.ts"
import { semanticKeyPrefix } from "../../../core/cache/semantic/RedisSemanticStore.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import { loadUseLiteFastOnly } from "../../../runtimes/embedding/useLiteStatic.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { eventually } from "../../support/eventually.ts"
import { askNative as ask, type RunningGateway, startTestGateway, upstreamEnv } from "../../support/gateway.ts"
import { upstreamAndRedis } from "../../support/redis.ts"

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

// The tests below run the cosine decision (this model has no fast stage); "entries know their encoder" runs the
// default learned one, which needs only the shipped fast stage.
const fastOnly = await loadUseLiteFastOnly()
const learnedBackends: SemanticBackends = { loadEmbedder: async () => fastOnly, loadHnswlib: async () => hnswlib }

const servers = upstreamAndRedis()

const replica = () =>
  startTestGateway(
    upstreamEnv(servers.upstream.url, { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: servers.redis.url }),
    {},
    backends,
    connectRedis
  )

const l1bEntries = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { entries: number } } }).layers.l1b.entries

/**
 * Waits until a replica's index holds `count` entries (an L1b insert runs beside the answer, and another replica
 * hears of it over pub/sub); returns how many it holds.
 */
const learned = async (gateway: RunningGateway, count: number) => {
  await eventually(async () => await l1bEntries(gateway) >= count, { what: `a replica's L1b to hold ${count} entries` })
  return l1bEntries(gateway)
}

describe("entries know their encoder", () => {
  const learnedReplica = () =>
    startTestGateway(
      upstreamEnv(servers.upstream.url, { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: servers.redis.url }),
      {},
      learnedBackends,
      connectRedis
    )

  it("records encoder and decision on every entry, and sets aside (never compares) another encoder's, saying how many at start", async () => {
    const client = createClient({ url: servers.redis.url })
    await client.connect()
    const a = await learnedReplica()
    try {
      assert.equal((await ask(a, "How do I reset my password?")).layer, "l3")
      // The L1b insert runs beside the answer: its key lands in Redis a moment later.
      const [key] = await eventually(async () => {
        const keys = await client.keys(`${semanticKeyPrefix}*`)
        return keys.length > 0 && keys
      }, { what: "the L1b entry's key in Redis" })
      const stored = JSON.parse((await client.get(key!))!) as { e: string; d: string; v: string }
      assert.equal(stored.e, shippedDecision.encoder)
      assert.equal(stored.d, shippedDecision.version)
      // A replica on a later release sees the same entry as another encoder's: same length, same text, yet it
      // must not be compared.
      await client.set(key!, JSON.stringify({ ...stored, e: "use-lite-static-256/000000000000" }))
      const b = await learnedReplica()
      try {
        assert.ok(
          b.warnings.some((line) => /1 shared entries stored with another encoder were set aside/.test(line)),
          b.warnings.join("\n")
        )
        assert.equal((await ask(b, "How can I reset my password?")).layer, "l3")
        assert.equal((await ask(a, "how could i reset my password")).layer, "l1b", "its own replica still serves it")
      } finally {
        await b.close()
      }
    } finally {
      await a.close()
      await client.flushDb()
      await client.close()
    }
  })
})

describe("bad data in Redis", () => {
  it("treats foreign or truncated values under the prefixes as misses, never as answers or crashes", async () => {
    const client = createClient({ url: servers.redis.url })
    await client.connect()
    await client.set(`${semanticKeyPrefix}foreign`, "not json at all")
    await client.set(
      `${semanticKeyPrefix}wrong-model`,
      JSON.stringify({ s: "x", t: "How do I reset my password?", a: "stale", v: btoa("\u0000\u0000\u0080\u003f") })
    )
    const gateway = await replica()
    try {
      assert.equal((await ask(gateway, "Is the bad data ignored?")).layer, "l3")
      await learned(gateway, 1)
      for (const key of await client.keys("isartor:v1:l1a:*")) await client.set(key, "{\"c\": \"trunc")
      const again = await ask(gateway, "Is the bad data ignored?")
      // The unreadable L1a value is a miss; the (readable) L1b entry of the same question answers instead.
      assert.equal(again.layer, "l1b")
      assert.equal(again.body.message, "Answer #1 to: Is the bad data ignored?")
    } finally {
      await gateway.close()
      await client.flushDb()
      await client.close()
    }
  })
})

describe("L1b on Redis", () => {
  it("makes an answer cached through replica A a semantic hit on replica B while it runs, and on a replica started later", async () => {
    const a = await replica()
    const b = await replica()
    try {
      const before = await l1bEntries(b)
      assert.equal((await ask(a, "How do I reset my password?")).layer, "l3")
      assert.equal(await learned(b, before + 1), before + 1, "replica B learned the entry, and only it")
      assert.equal((await ask(b, "How can I reset my password?")).layer, "l1b")
      const late = await replica()
      try {
        const answer = await ask(late, "How could I reset my password?")
        assert.equal(answer.layer, "l1b", "a new replica loads the entries at start")
        assert.equal(answer.body.message, "Answer #1 to: How do I reset my password?")
      } finally {
        await late.close()
      }
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("stops serving an entry on every replica once it is flushed from Redis", async () => {
    const a = await replica()
    const b = await replica()
    try {
      const before = await l1bEntries(b)
      await ask(a, "What is the capital of Australia?")
      assert.equal(await learned(b, before + 1), before + 1)
      assert.equal((await ask(b, "What's the capital city of Australia?")).layer, "l1b")
      const client = createClient({ url: servers.redis.url })
      await client.connect()
      assert.ok((await client.keys(`${semanticKeyPrefix}*`)).length > 0)
      await client.flushDb()
      await client.close()
      // no-store: these lookups must not write fresh entries another replica could then serve.
      assert.equal(
        (await ask(b, "What is the capital city of Australia?", { "cache-control": "no-store" })).layer,
        "l3"
      )
      assert.equal((await ask(a, "What's the capital of Australia?", { "cache-control": "no-store" })).layer, "l3")
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe("redis-server killed under load", () => {
  it("fails no client request while Redis is killed and restarted mid-stream, warns once per layer, and hits resume by themselves", async () => {
    const gateway = await replica()
    const prompts = [
      "How do I reset my password?",
      "What is the capital of Australia?",
      "How many legs does a spider have?",
      "Who wrote Pride and Prejudice?",
      "Why is the sky blue?",
      "What does HTTP status 404 mean?"
    ]
    const total = 240
    const results: Array<{ status: number; layer: string | null }> = []
    let next = 0
    let outage: Promise<void> = Promise.resolve()
    const worker = async () => {
      while (next < total) {
        const index = next++
        // A third of the way in, redis-server is killed; two thirds of the way in, it is started again.
        if (index === total / 3) outage = servers.redis.stop()
        if (index === (2 * total) / 3) outage = outage.then(() => servers.redis.start())
        const response = await fetch(`${gateway.url}/api/chat`, {
          method: "POST",
          body: JSON.stringify({ prompt: prompts[index % prompts.length] })
        })
        await response.arrayBuffer()
        results.push({ status: response.status, layer: response.headers.get("x-isartor-layer") })
      }
    }
    try {
      await Promise.all(Array.from({ length: 8 }, worker))
      await outage
      assert.equal(results.length, total)
      assert.deepEqual(results.filter((result) => result.status !== 200), [], "no client request failed")
      assert.ok(results.some((result) => result.layer === "l1a"), "the cache served hits before the outage")

      // The gateway reconnects in the background: it writes and hits again once it has.
      await eventually(async () => {
        await ask(gateway, "after the restart")
        return (await ask(gateway, "after the restart")).layer === "l1a"
      }, { what: "exact hits to resume without restarting the gateway", timeoutMs: 30_000, intervalMs: 100 })

      const dropped = gateway.warnings.filter((line) => /cache write\(s\) dropped/.test(line))
      assert.ok(
        dropped.some((line) => line.includes("l1a:")),
        `the outage was reported: ${gateway.warnings.join("\n")}`
      )
      assert.ok(
        dropped.length <= 2,
        `at most one report per layer within the interval, not one per request:\n${dropped.join("\n")}`
      )
    } finally {
      await gateway.close()
      await servers.redis.start()
    }
  })
})
