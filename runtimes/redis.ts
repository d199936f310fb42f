import { createClient } from "redis"
import type { RedisConnection } from "../core/Gateway.ts"

/**
 * A node-redis client for the Redis-backed caches (node-redis runs on Node, Bun and Deno alike). Commands fail at
 * once while Redis is unreachable (no offline queue), and the client keeps reconnecting in the background, so
 * the caches come back by themselves when Redis does.
 */
export const connectRedis = async (url: string): Promise<RedisConnection> => {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000) }
  })
  let subscriber: ReturnType<typeof client.duplicate> | undefined
  // Socket errors surface as failed commands; the 'error' event must have a listener or the process dies.
  client.on("error", () => undefined)
  // connect() keeps retrying while Redis is down, so it is not awaited: give it a second to come up, then go on.
  const ready = new Promise<void>((resolve) => client.once("ready", () => resolve()))
  void client.connect().catch(() => undefined)
  await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 1000))])
  return {
    commands: {
      get: (key) => client.get(key),
      setWithTtl: async (key, value, ttlMs) => {
        await client.set(key, value, { expiration: { type: "PX", value: ttlMs } })
      },
      exists: async (key) => (await client.exists(key)) === 1,
      countKeys: async (prefix) => {
        let count = 0
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) count += keys.length
        return count
      },
      entries: async (prefix) => {
        const out: Array<[string, string]> = []
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
          if (keys.length === 0) continue
          const values = await client.mGet(keys)
          keys.forEach((key, i) => values[i] != null && out.push([key, values[i]!]))
        }
        return out
      },
      publish: async (channel, message) => {
        await client.publish(channel, message)
      },
      subscribe: (channel, listener) => {
        // Subscribing takes a connection of its own.
        subscriber ??= client.duplicate()
        subscriber.on("error", () => undefined)
        const connected = subscriber.isOpen ? Promise.resolve() : subscriber.connect().then(() => undefined)
        void connected.then(() => subscriber!.subscribe(channel, listener)).catch(() => undefined)
      }
    },
    close: async () => {
      if (subscriber?.isOpen) await subscriber.close().catch(() => undefined)
      if (client.isOpen) await client.close().catch(() => undefined)
    }
  }
}
