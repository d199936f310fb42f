import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { emptyCounts } from "../../../core/cache/semantic/decision/ErrorBudget.ts"
import { SharedSemanticStore } from "../../../core/cache/semantic/RedisSemanticStore.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadUseLiteFastOnly } from "../../../runtimes/embedding/useLiteStatic.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { eventually } from "../../support/eventually.ts"
import { askNative as ask, type RunningGateway, startTestGateway, upstreamEnv } from "../../support/gateway.ts"
import { upstreamAndRedis } from "../../support/redis.ts"

const fast = await loadUseLiteFastOnly()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => fast, loadHnswlib: async () => hnswlib }
const servers = upstreamAndRedis()

const replica = (budget: string) =>
  startTestGateway(
    upstreamEnv(servers.upstream.url, {
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__REDIS_URL: servers.redis.url,
      ISARTOR__L1B_ERROR_BUDGET: budget
    }),
    {},
    backends,
    connectRedis
  )

const l1bOf = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as {
    layers: {
      l1b: {
        entries: number
        budget: { labelled_hits: number; entries_threshold_raised: number; entries_stopped_serving: number }
      }
    }
  }).layers.l1b

describe("L1b budget observations shared by replicas through Redis", () => {
  it("a label one replica learns reaches the other, and a restarted replica starts from it", async () => {
    const a = await replica("0.05")
    const b = await replica("0.05")
    try {
      assert.equal((await ask(a, "What is the refund policy for damaged items?")).layer, "l3")
      assert.equal((await ask(a, "What's the refund policy for items that arrive damaged?")).layer, "l3")
      await eventually(async () => (await l1bOf(b)).budget.labelled_hits >= 1, { what: "b to hear a's label" })
      assert.equal((await l1bOf(b)).budget.entries_threshold_raised, 1, "and the entry's raised threshold")
    } finally {
      await a.close()
      await b.close()
    }
    const c = await replica("0.05")
    try {
      assert.ok((await l1bOf(c)).budget.labelled_hits >= 1, "a replica started later loads the observations")
    } finally {
      await c.close()
    }
  })

  it("feedback on one replica stops the entry answering on the other", async () => {
    const a = await replica("1")
    const b = await replica("1")
    try {
      assert.equal((await ask(a, "How long does shipping to Canada take?")).layer, "l3")
      await eventually(async () => (await l1bOf(b)).entries >= 1, { what: "b to hold a's entry" })
      const hit = await fetch(`${b.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ prompt: "How long does shipping to Canada usually take?" })
      })
      assert.equal(hit.headers.get("x-isartor-layer"), "l1b")
      const id = hit.headers.get("x-isartor-cache-key")!
      const feedback = await fetch(`${a.url}/v1/cache/${id}/feedback`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ correct: false })
      })
      assert.equal(feedback.status, 200)
      await eventually(async () => (await l1bOf(b)).budget.entries_stopped_serving >= 1, { what: "b to hear it" })
      assert.equal((await ask(b, "how long does shipping to canada usually take")).layer, "l3")
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("keeps the shared marks bounded: capped like the index, and lapsing with their entries' TTL", async () => {
    const connection = await connectRedis(servers.redis.url)
    try {
      const counts = emptyCounts()
      counts.observed[45] = 1
      const sync = (
        store: SharedSemanticStore["Service"],
        decision: string,
        marks: Array<readonly [string, number]>,
        bands: Array<string> = []
      ) =>
        Effect.runPromise(
          store.syncBudget(decision, { counts: bands.map((band) => [band, counts] as const), marks, removed: [] })
        )
      const capped = SharedSemanticStore.make(connection.commands, 600_000, 3)
      const many = Array.from({ length: 10 }, (_, i) => [`entry-${i}`, 0.5] as const)
      const bands = Array.from({ length: 10 }, (_, i) => `fast:scope-${i}`)
      const totals = await sync(capped, "capped", many, bands)
      assert.equal(totals.marks.size, 3)
      assert.equal(totals.counts.size, 3, "and the bands")
      const lapsing = SharedSemanticStore.make(connection.commands, 50, 100)
      const fresh = await sync(lapsing, "lapsing", many, bands)
      assert.equal(fresh.marks.size, 10)
      assert.equal(fresh.counts.get("fast:scope-3")?.observed[45], 1)
      await eventually(async () => {
        const lapsed = await sync(lapsing, "lapsing", [])
        return lapsed.marks.size === 0 && lapsed.counts.size === 0
      }, { what: "marks and bands to lapse" })
    } finally {
      await connection.close()
    }
  })
})
