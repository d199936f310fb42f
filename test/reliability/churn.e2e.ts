import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { ExactCacheStatus } from "../../core/cache/exact/ExactCache.ts"
import type { LabelledIndexStatus } from "../../core/cache/semantic/LabelledIndex.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { eventually } from "../support/eventually.ts"
import { askNative, type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { upstreamAndRedis } from "../support/redis.ts"

// A long-running gateway: many more distinct questions than the caches hold, then a paraphrase must still be
// answered by L1b, and what the caches hold (entries, graph slots, bytes) must stay within the configured bounds.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

const CAPACITY = 20

const servers = upstreamAndRedis()

interface Health {
  readonly layers: { readonly l1a: ExactCacheStatus; readonly l1b: LabelledIndexStatus }
}

const health = async (gateway: RunningGateway) => (await (await fetch(`${gateway.url}/health`)).json()) as Health

/** Distinct questions the verifier keeps apart (each names its own numbers), so every one is a miss and an insert. */
const distinctQuestion = (n: number, padding = "") =>
  `${padding}What was the revenue of branch ${n} in quarter ${(n % 4) + 1} of year ${2000 + (n % 25)}?`

/** Asks `count` distinct questions, a few at a time; returns how many L3 answered (all of them, when none hit). */
const churn = async (gateway: RunningGateway, count: number, padding = "") => {
  let fromUpstream = 0
  for (let n = 0; n < count; n += 4) {
    const answers = await Promise.all([0, 1, 2, 3].map((i) => askNative(gateway, distinctQuestion(n + i, padding))))
    fromUpstream += answers.filter((answer) => answer.layer === "l3").length
  }
  return fromUpstream
}

/** After the churn, a new question is learned and its paraphrase answered from L1b. */
const assertStillLearns = async (gateway: RunningGateway) => {
  assert.equal((await askNative(gateway, "How do I reset my password?")).layer, "l3")
  // The L1b insert runs beside the answer: ask until it has landed. `no-store`, so a miss does not cache the paraphrase.
  await eventually(
    async () =>
      (await askNative(gateway, "How can I reset my password?", { "cache-control": "no-store" })).layer === "l1b",
    { what: "a paraphrase to be answered by the semantic cache still", intervalMs: 50 }
  )
}

describe("L1b after 10 × cache_max_capacity distinct questions", () => {
  it("memory: still answers a paraphrase; entries and graph slots stay within the capacity; no insert failed", async () => {
    const gateway = await startTestGateway(
      upstreamEnv(servers.upstream.url, { ISARTOR__CACHE_MAX_CAPACITY: String(CAPACITY) }),
      {},
      backends
    )
    try {
      assert.equal(await churn(gateway, 10 * CAPACITY), 10 * CAPACITY, "every distinct question was a miss")
      await assertStillLearns(gateway)
      const { l1b, l1a } = (await health(gateway)).layers
      assert.ok(l1b.entries <= CAPACITY, `L1b holds ${l1b.entries} entries`)
      assert.ok(l1b.index_slots <= CAPACITY + 1, `the graph holds ${l1b.index_slots} slots`)
      assert.equal(l1b.index_allocated, CAPACITY + 2, "the graph's allocation never grew")
      assert.equal(l1b.insert_failures, 0)
      assert.ok(l1a.entries! <= CAPACITY)
    } finally {
      await gateway.close()
    }
  })

  it("memory: both caches are bounded by cache_max_bytes, and a paraphrase still hits", async () => {
    const maxBytes = 200_000
    const gateway = await startTestGateway(
      upstreamEnv(servers.upstream.url, {
        ISARTOR__CACHE_MAX_CAPACITY: "1000",
        ISARTOR__CACHE_MAX_BYTES: String(maxBytes)
      }),
      {},
      backends
    )
    try {
      // 1.5 KB of context before each question (the fake upstream echoes it): 80 of them take about 700 KB unbounded.
      const padding = "Context: the quarterly figures follow the usual accounting rules. ".repeat(22)
      await churn(gateway, 80, padding)
      await assertStillLearns(gateway)
      const { l1b, l1a } = (await health(gateway)).layers
      assert.ok(l1b.bytes <= maxBytes && l1b.max_bytes === maxBytes, `L1b holds ${l1b.bytes} bytes`)
      assert.ok(l1b.entries < 60, `L1b evicted by bytes (holds ${l1b.entries})`)
      assert.ok(l1a.bytes! <= maxBytes && l1a.max_bytes === maxBytes, `L1a holds ${l1a.bytes} bytes`)
      assert.ok(l1a.entries! < 60, `L1a evicted by bytes (holds ${l1a.entries})`)
      assert.equal(l1b.insert_failures, 0)
    } finally {
      await gateway.close()
    }
  })

  it("memory: a question longer than the verifier reads is served by L1a only and takes no L1b memory", async () => {
    const gateway = await startTestGateway(upstreamEnv(servers.upstream.url), {}, backends)
    try {
      const long = `${"Please read this long report carefully. ".repeat(100)}What is its conclusion?`
      assert.equal((await askNative(gateway, long)).layer, "l3")
      assert.equal((await askNative(gateway, long)).layer, "l1a")
      assert.equal((await askNative(gateway, `${long} `)).layer, "l3", "a near-twin of a long question goes upstream")
      assert.equal((await health(gateway)).layers.l1b.entries, 0)
    } finally {
      await gateway.close()
    }
  })

  it("redis: a replica still answers a paraphrase; its index stays within the capacity", async () => {
    const gateway = await startTestGateway(
      upstreamEnv(servers.upstream.url, {
        ISARTOR__CACHE_BACKEND: "redis",
        ISARTOR__REDIS_URL: servers.redis.url,
        ISARTOR__CACHE_MAX_CAPACITY: String(CAPACITY)
      }),
      {},
      backends,
      connectRedis
    )
    try {
      assert.equal(await churn(gateway, 10 * CAPACITY), 10 * CAPACITY)
      await assertStillLearns(gateway)
      const { l1b } = (await health(gateway)).layers
      assert.ok(l1b.entries <= CAPACITY, `L1b holds ${l1b.entries} entries`)
      assert.ok(l1b.index_slots <= CAPACITY + 1, `the graph holds ${l1b.index_slots} slots`)
      assert.equal(l1b.insert_failures, 0)
    } finally {
      await gateway.close()
    }
  })
})
