import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { makeRedisUsageStore } from "../../core/usage/redisStore.ts"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { type RedisCluster, startRedisCluster } from "../support/redis.ts"
import { testUsageStore } from "../support/usageStoreSuite.ts"

// The stores' contract on a three-master Redis Cluster, and what a Cluster adds: each batch is one script over keys
// that must share a slot, and replicas writing at once must still add up to one ledger.

const CENTURY_MS = 100 * 365 * 24 * 3_600_000
let cluster: RedisCluster
before(async () => {
  cluster = await startRedisCluster(3)
})
after(() => cluster?.stop())

const open = async () => {
  const connection = await connectRedis(cluster.url)
  // The rows are dated in the past: a long retention keeps their hours from expiring as they are written.
  return { store: makeRedisUsageStore(connection.commands, CENTURY_MS), close: connection.close }
}

testUsageStore("redis cluster", open, { prunes: false })

const HOUR = Date.parse("2026-04-01T08:00:00Z")
const row = (minute: number, caller: string): UsageRow => ({
  at: HOUR + minute * 60_000,
  caller,
  family: "chat",
  model_asked: "gpt-4o-mini",
  provider: "openai",
  model: "gpt-4o-mini",
  layer: "l3",
  tokens_in: 3,
  tokens_out: 4,
  cost_usd: 0.25,
  tokens_saved: 0,
  cost_saved_usd: 0,
  latency_ms: 1,
  status: 200,
  stream: false
})

describe("the usage ledger on a Redis Cluster", () => {
  it("adds up the batches of replicas writing at once, its keys on one master", async () => {
    const replicas = [await open(), await open(), await open()]
    try {
      const batches = 20
      await Promise.all(replicas.flatMap((replica, index) =>
        Array.from(
          { length: batches },
          (_, batch) => replica.store.append([row(batch, "cluster-caller"), row(batch, `replica-${index}`)])
        )
      ))
      const window = { since: HOUR, until: HOUR + 3_600_000 }
      for (const replica of replicas) {
        const rollups = await replica.store.rollups(window)
        const shared = rollups.find((rollup) => rollup.caller === "cluster-caller")
        assert.equal(shared?.requests, replicas.length * batches, "every replica's increments, none lost")
        assert.equal(shared?.tokens_in, 3 * replicas.length * batches)
        assert.equal(shared?.cost_usd, 0.25 * replicas.length * batches)
        for (const [index] of replicas.entries()) {
          assert.equal(rollups.find((rollup) => rollup.caller === `replica-${index}`)?.requests, batches)
        }
      }
      // The newest rows are these batches' (the suite before wrote older ones to the same list).
      const recent = await replicas[0]!.store.recent(2 * replicas.length * batches)
      assert.equal(recent.filter((kept) => kept.caller === "cluster-caller").length, replicas.length * batches)

      const keysPerMaster = await Promise.all(
        cluster.ports.map(async (port) =>
          (await cluster.cli(port, "--scan", "--pattern", "{isartor:usage}*")).split("\n").filter(Boolean).length
        )
      )
      assert.equal(keysPerMaster.filter((keys) => keys > 0).length, 1, `keys per master: ${keysPerMaster.join(", ")}`)
    } finally {
      for (const replica of replicas) await replica.close()
    }
  })
})
