import { makeMemoryExactStore } from "../../../core/cache/exact/MemoryExactStore.ts"
import { makeRedisExactStore } from "../../../core/cache/exact/RedisExactStore.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { redisAndCluster } from "../../support/redis.ts"
import { testExactStore } from "../../support/storeSuites.ts"

const servers = redisAndCluster()

const onRedis = async (url: string, ttlMs: number) => {
  const connection = await connectRedis(url)
  return { store: makeRedisExactStore(connection.commands, ttlMs), close: connection.close }
}

testExactStore("memory", async (ttlMs, clock) => ({
  store: makeMemoryExactStore({ maxEntries: 1_000, maxBytes: 10_000_000, ttlMs, now: clock.now }),
  close: async () => undefined,
  onTestClock: true
}))
testExactStore("redis", (ttlMs) => onRedis(servers.redis.url, ttlMs))
testExactStore("redis cluster", (ttlMs) => onRedis(servers.cluster.url, ttlMs))
