import { SharedSemanticStore } from "../../../core/cache/semantic/RedisSemanticStore.ts"
import { connectRedis } from "../../../runtimes/redis.ts"
import { redisAndCluster } from "../../support/redis.ts"
import { testSemanticStore } from "../../support/storeSuites.ts"

const servers = redisAndCluster()

const onRedis = async (url: string) => {
  const connection = await connectRedis(url)
  return { store: SharedSemanticStore.make(connection.commands, 60_000), close: connection.close }
}

testSemanticStore("redis", () => onRedis(servers.redis.url))
testSemanticStore("redis cluster", () => onRedis(servers.cluster.url))
