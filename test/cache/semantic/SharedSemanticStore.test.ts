import { after, before } from "node:test"
import { SharedSemanticStore } from "../../../core/cache/semantic/RedisSemanticStore.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../../support/redis.ts"
import { testSemanticStore } from "../../support/storeSuites.ts"

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

const onRedis = async (url: string) => {
  const connection = await connectRedis(url)
  return { store: SharedSemanticStore.make(connection.commands, 60_000), close: connection.close }
}

testSemanticStore("redis", () => onRedis(redis.url))
testSemanticStore("redis cluster", () => onRedis(cluster.url))
