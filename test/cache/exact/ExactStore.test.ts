import { after, before } from "node:test"
import { makeMemoryExactStore } from "../../../core/cache/exact/MemoryExactStore.ts"
import { makeRedisExactStore } from "../../../core/cache/exact/RedisExactStore.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../../support/redis.ts"
import { testExactStore } from "../../support/storeSuites.ts"

let redis: RedisServer
let cluster: RedisCluster
before(async () => {
  redis = await startRedis()
  cluster = await startRedisCluster(3)
})
after(async () => {
  await redis.stop()
  await cluster.stop()
})

const onRedis = async (url: string, ttlMs: number) => {
  const connection = await connectRedis(url)
  return { store: makeRedisExactStore(connection.commands, ttlMs), close: connection.close }
}

testExactStore("memory", async (ttlMs) => ({
  store: makeMemoryExactStore({ maxEntries: 1_000, maxBytes: 10_000_000, ttlMs }),
  close: async () => undefined
}))
testExactStore("redis", (ttlMs) => onRedis(redis.url, ttlMs))
testExactStore("redis cluster", (ttlMs) => onRedis(cluster.url, ttlMs))
