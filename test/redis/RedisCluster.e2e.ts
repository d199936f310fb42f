import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { exactKeyPrefix } from "../../core/cache/exact/RedisExactStore.ts"
import { semanticKeyPrefix } from "../../core/cache/semantic/RedisSemanticStore.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { type RedisCluster, startRedisCluster } from "../support/redis.ts"

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

let upstream: FakeOpenAI
let cluster: RedisCluster
before(async () => {
  upstream = await startFakeOpenAI()
  cluster = await startRedisCluster(3)
})
after(async () => {
  await cluster.stop()
  await upstream.close()
})

const replica = () =>
  startTestGateway(
    upstreamEnv(upstream.url, { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: cluster.url }),
    {},
    backends,
    connectRedis
  )

const ask = async (gateway: RunningGateway, prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
  assert.equal(response.status, 200)
  return { layer: response.headers.get("x-isartor-layer"), body: (await response.json()) as { message: string } }
}

const l1bEntries = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { entries: number } } }).layers.l1b.entries

/** Keys under a prefix on each master, read from the nodes themselves. */
const keysPerMaster = (prefix: string) =>
  Promise.all(
    cluster.ports.map(async (port) =>
      (await cluster.cli(port, "--scan", "--pattern", `${prefix}*`)).split("\n").filter(Boolean).length
    )
  )

const questions = [
  "How do I reset my password?",
  "What is the capital of Australia?",
  "How many legs does a spider have?",
  "Who wrote Pride and Prejudice?",
  "What is the boiling point of water at sea level?",
  "How do I make a cup of green tea?",
  "Why is the sky blue?",
  "What does HTTP status 404 mean?"
]

describe("Redis Cluster (3 masters)", () => {
  it("shares exact and semantic hits between replicas, spreads entries over the masters, and empties on a flush", async () => {
    const a = await replica()
    const b = await replica()
    try {
      for (const question of questions) assert.equal((await ask(a, question)).layer, "l3")

      const fromB = await ask(b, questions[0]!)
      assert.equal(fromB.layer, "l1a", "an exact hit on replica B for what replica A cached")
      assert.equal(fromB.body.message, `Answer #1 to: ${questions[0]}`)

      // Replica B hears of A's L1b entries over pub/sub, in the background.
      await eventually(async () => await l1bEntries(b) >= questions.length, {
        what: `replica B to learn ${questions.length} L1b entries`
      })
      assert.equal(await l1bEntries(b), questions.length, "replica B learned every L1b entry, and no other")
      const paraphrase = await ask(b, "What's the capital city of Australia?")
      assert.equal(paraphrase.layer, "l1b", "a semantic hit on replica B")
      assert.equal(paraphrase.body.message, `Answer #1 to: ${questions[1]}`)

      const exactKeys = await keysPerMaster(exactKeyPrefix)
      const semanticKeys = await keysPerMaster(semanticKeyPrefix)
      assert.equal(exactKeys.reduce((sum, n) => sum + n, 0), questions.length)
      assert.equal(semanticKeys.reduce((sum, n) => sum + n, 0), questions.length)
      assert.ok(
        exactKeys.filter((n) => n > 0).length >= 2,
        `entries on several masters, not one slot: ${exactKeys.join("/")}`
      )

      for (const port of cluster.ports) await cluster.cli(port, "flushdb")
      assert.equal((await ask(a, questions[0]!)).layer, "l3", "flushed on every master: replica A misses")
      assert.equal(
        (await ask(b, "What is the capital city of Australia?")).layer,
        "l3",
        "and replica B no longer serves the flushed L1b entry"
      )
    } finally {
      await a.close()
      await b.close()
    }
  })
})
