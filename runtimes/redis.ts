import { createClient, createCluster } from "redis"
import type { RedisConnection } from "../core/Gateway.ts"
import type { RedisCommands } from "../core/redis/RedisCommands.ts"

/** Fail fast while Redis is unreachable, and keep reconnecting in the background (50 ms doubling to 2 s). */
const socket = { connectTimeout: 1000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) }

const newClient = (url: string) => createClient({ url, disableOfflineQueue: true, socket })
type Client = ReturnType<typeof newClient>

const newCluster = (seeds: ReadonlyArray<string>) => {
  const first = new URL(seeds[0]!)
  return createCluster({
    rootNodes: seeds.map((seed) => ({ url: seed })),
    // Discovered nodes take their settings (credentials included) from the defaults only.
    defaults: {
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
      disableOfflineQueue: true,
      socket
    }
  })
}
type Cluster = ReturnType<typeof newCluster>
const ignore = () => undefined
const SCAN_COUNT = 1000

/** Every key under the prefix on one node, in batches. */
async function* scanKeys(node: Client, prefix: string) {
  for await (const keys of node.scanIterator({ MATCH: `${prefix}*`, COUNT: SCAN_COUNT })) {
    if (keys.length > 0) yield keys
  }
}

const standaloneCommands = (client: Client, subscriber: () => Client): RedisCommands => ({
  get: (key) => client.get(key),
  setWithTtl: async (key, value, ttlMs) => {
    await client.set(key, value, { expiration: { type: "PX", value: ttlMs } })
  },
  exists: async (key) => (await client.exists(key)) === 1,
  del: async (key) => (await client.del(key)) === 1,
  countKeys: async (prefix) => {
    let count = 0
    for await (const keys of scanKeys(client, prefix)) count += keys.length
    return count
  },
  entries: async (prefix) => {
    const out: Array<[string, string]> = []
    for await (const keys of scanKeys(client, prefix)) {
      const values = await client.mGet(keys)
      keys.forEach((key, i) => values[i] != null && out.push([key, values[i]!]))
    }
    return out
  },
  publish: async (channel, message) => {
    await client.publish(channel, message)
  },
  evalScript: (script, keys, args) => client.eval(script, { keys: [...keys], arguments: [...args] }),
  subscribe: (channel, listener) => {
    const connection = subscriber()
    const connected = connection.isOpen ? Promise.resolve() : connection.connect().then(ignore)
    void connected.then(() => connection.subscribe(channel, listener)).catch(ignore)
    return () =>
      void connected.then(() => (connection.isOpen ? connection.unsubscribe(channel, listener) : undefined)).catch(
        ignore
      )
  }
})

/**
 * On a cluster every command touches one key, so keys need no hash tags: entries spread over the masters by slot.
 * Listing scans each master; GETs are pipelined per key (MGET would fail across slots); classic PUBLISH reaches
 * every node's subscribers.
 */
const clusterCommands = (cluster: Cluster): RedisCommands => {
  async function* keysEverywhere(prefix: string) {
    for (const master of cluster.masters) yield* scanKeys(await cluster.nodeClient(master), prefix)
  }
  return {
    get: (key) => cluster.get(key),
    setWithTtl: async (key, value, ttlMs) => {
      await cluster.set(key, value, { expiration: { type: "PX", value: ttlMs } })
    },
    exists: async (key) => (await cluster.exists(key)) === 1,
    del: async (key) => (await cluster.del(key)) === 1,
    countKeys: async (prefix) => {
      let count = 0
      for await (const keys of keysEverywhere(prefix)) count += keys.length
      return count
    },
    entries: async (prefix) => {
      const out: Array<[string, string]> = []
      for await (const keys of keysEverywhere(prefix)) {
        const values = await Promise.all(keys.map((key) => cluster.get(key)))
        keys.forEach((key, i) => values[i] != null && out.push([key, values[i]!]))
      }
      return out
    },
    publish: async (channel, message) => {
      await cluster.publish(channel, message)
    },
    // Routed by its first key: the store's keys share a hash tag, so all of them live on that node.
    evalScript: (script, keys, args) => cluster.eval(script, { keys: [...keys], arguments: [...args] }),
    subscribe: (channel, listener) => {
      void cluster.subscribe(channel, listener).catch(ignore)
      return () => void cluster.unsubscribe(channel, listener as Parameters<Cluster["unsubscribe"]>[1]).catch(ignore)
    }
  }
}

/**
 * Why Redis refuses the URL's credentials, from its reply to the connection's handshake: a wrong user or password
 * (WRONGPASS), or none where one is required (NOAUTH). Worded here once, without the password.
 */
const refusalOf = (error: unknown): string | undefined => {
  const reply = error instanceof Error ? error.message : ""
  if (reply.startsWith("WRONGPASS")) return "WRONGPASS: the user name or password is wrong"
  if (reply.startsWith("NOAUTH")) return "NOAUTH: Redis requires a password, and none was given"
  return undefined
}

/** While Redis refuses the credentials, every command fails at once saying so (not as "the client is offline"). */
const refusingCommands = (refusal: string, standalone: RedisCommands): RedisCommands => {
  const refuse = () => Promise.reject(new Error(refusal))
  return {
    get: refuse,
    setWithTtl: refuse,
    exists: refuse,
    del: refuse,
    countKeys: refuse,
    entries: refuse,
    publish: refuse,
    evalScript: refuse,
    subscribe: standalone.subscribe
  }
}

const isCluster = async (client: Client) => /cluster_enabled:1/.test(await client.info("cluster"))

/** Waits for `promise` at most `ms`, then goes on whether it settled or not. */
const within = (promise: Promise<unknown>, ms: number) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
    .finally(() => clearTimeout(timer))
}

type Subscription = { channel: string; listener: (message: string) => void; unsubscribe: () => void }

/**
 * The commands callers hold: each goes to whichever set is `current()` at the time (standalone, refusing, cluster).
 * Subscriptions are remembered in `subscriptions`, so a switch to the cluster can move them over.
 */
const forwardingCommands = (current: () => RedisCommands, subscriptions: Set<Subscription>): RedisCommands => ({
  get: (key) => current().get(key),
  setWithTtl: (key, value, ttlMs) => current().setWithTtl(key, value, ttlMs),
  exists: (key) => current().exists(key),
  del: (key) => current().del(key),
  countKeys: (prefix) => current().countKeys(prefix),
  entries: (prefix) => current().entries(prefix),
  publish: (channel, message) => current().publish(channel, message),
  evalScript: (script, keys, args) => current().evalScript(script, keys, args),
  subscribe: (channel, listener) => {
    const subscription = { channel, listener, unsubscribe: current().subscribe(channel, listener) }
    subscriptions.add(subscription)
    return () => {
      subscriptions.delete(subscription)
      subscription.unsubscribe()
    }
  }
})

/**
 * Starts `client` connecting. connect() keeps retrying while Redis is down, so it is not awaited: give it a second
 * to come up, then go on. A Redis that answered is given time to say whether it is a cluster (`detected`): serving a
 * cluster through the standalone client meanwhile would turn every key of another node's slots into a fall-through
 * (a loaded machine takes over a second).
 */
const startConnecting = async (client: Client, detected: Promise<void>) => {
  void client.connect().catch(ignore)
  let answered = false
  const reached = new Promise<void>((resolve) =>
    client.once("ready", () => {
      answered = true
      resolve()
    })
  )
  await within(reached, 1000)
  if (answered) await within(detected, 10_000)
}

/**
 * The Redis client of the Redis-backed caches (node-redis runs on Node, Bun and Deno alike). `url` is one server
 * or several comma-separated seed nodes of a Redis Cluster; a cluster is recognised by itself (`INFO cluster`),
 * also when it only becomes reachable after start-up. Commands fail at once while Redis is unreachable (no offline
 * queue) and the clients keep reconnecting, so the caches come back by themselves when Redis does.
 */
export const connectRedis = async (url: string): Promise<RedisConnection> => {
  const seeds = url.split(",").map((seed) => seed.trim()).filter((seed) => seed.length > 0)
  const client = newClient(seeds[0]!)
  let subscriber: Client | undefined
  let cluster: Cluster | undefined
  let closed = false
  const subscriptions = new Set<Subscription>()
  const standalone = standaloneCommands(client, () => {
    subscriber ??= client.duplicate().on("error", ignore)
    return subscriber
  })
  let current = standalone
  // Socket errors surface as failed commands (the 'error' event must have a listener or the process dies); a refused
  // password is said as such until a handshake succeeds.
  client.on("error", (error: unknown) => {
    const refusal = refusalOf(error)
    if (refusal !== undefined && !cluster) current = refusingCommands(refusal, standalone)
  })
  client.on("ready", () => {
    if (!cluster) current = standalone
  })

  const switchToCluster = async () => {
    const next = newCluster(seeds)
    next.on("error", ignore)
    await next.connect()
    if (closed) return void (await next.close().catch(ignore))
    cluster = next
    current = clusterCommands(next)
    for (const subscription of subscriptions) {
      subscription.unsubscribe = current.subscribe(subscription.channel, subscription.listener)
    }
    if (subscriber?.isOpen) await subscriber.close().catch(ignore)
    await client.close().catch(ignore)
  }
  // Checked on every (re)connection until a cluster is found: a cluster that is down at start-up is still found.
  const detect = async () => {
    if (cluster || closed) return
    if (await isCluster(client).catch(() => false)) await switchToCluster().catch(ignore)
  }
  const detected = new Promise<void>((resolve) =>
    client.on("ready", () => {
      void detect().finally(resolve)
    })
  )
  await startConnecting(client, detected)
  return {
    commands: forwardingCommands(() => current, subscriptions),
    close: async () => {
      closed = true
      if (cluster) await cluster.close().catch(ignore)
      if (subscriber?.isOpen) await subscriber.close().catch(ignore)
      if (client.isOpen) await client.close().catch(ignore)
    }
  }
}
