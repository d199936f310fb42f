import { after, before } from "node:test"
import { makeRedisUsageStore } from "../../core/usage/redisStore.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"
import { testUsageStore } from "../support/usageStoreSuite.ts"

// The stores' contract (test/usage/UsageStore.test.ts runs it on memory and SQLite) on a real redis-server.

const CENTURY_MS = 100 * 365 * 24 * 3_600_000
let redis: RedisServer
before(async () => {
  redis = await startRedis()
})
after(() => redis?.stop())

testUsageStore(
  "redis",
  async () => {
    const connection = await connectRedis(redis.url)
    // The suite's rows are dated in the past: a long retention keeps their hours from expiring as they are written.
    return { store: makeRedisUsageStore(connection.commands, CENTURY_MS), close: connection.close }
  },
  { prunes: false }
)
