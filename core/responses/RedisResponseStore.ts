import type { RedisCommands } from "../redis/RedisCommands.ts"
import { entryBytes, type ResponseStoreShape, type StoredResponse } from "./ResponseStore.ts"

export const responseKeyPrefix = "isartor:v1:responses:"

/**
 * A caller's keys share one hash tag, so that on a Redis Cluster its entries, their index and their sizes sit in one
 * slot and a script can keep them consistent. `t:` keeps the tag non-empty (an empty tag would hash the whole key).
 */
const keysOf = (tenant: string) => {
  const tagged = `${responseKeyPrefix}{t:${tenant}}:`
  return { entryPrefix: `${tagged}r:`, index: `${tagged}i`, sizes: `${tagged}s` }
}

/** The total of a caller's sizes, under a field no response id takes. */
const TOTAL = "#total"

/**
 * Saves an entry and keeps the caller within its byte bound, oldest first, atomically. Times come from Redis (TIME),
 * so replicas with clocks apart still agree on which entry is oldest. Entries Redis has expired are dropped from the
 * index and the total first.
 * KEYS: entry, index (sorted set: id by time saved), sizes (hash: id to bytes, and the total).
 * ARGV: id, value, ttl ms, max bytes, entry key prefix, entry bytes.
 */
const SAVE = `
local id, value, ttl, max, prefix, size = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
if size > max then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function forget(old)
  local bytes = redis.call('HGET', KEYS[3], old)
  if not bytes then return tonumber(redis.call('HGET', KEYS[3], '${TOTAL}') or '0') end
  redis.call('ZREM', KEYS[2], old)
  redis.call('HDEL', KEYS[3], old)
  return redis.call('HINCRBY', KEYS[3], '${TOTAL}', '-' .. bytes)
end
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do forget(old) end
forget(id)
redis.call('SET', KEYS[1], value, 'PX', ttl)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[3], id, size)
local total = redis.call('HINCRBY', KEYS[3], '${TOTAL}', size)
while total > max do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('DEL', prefix .. oldest)
  total = forget(oldest)
end
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return 1
`

/**
 * Deletes an entry when it is the caller's (its value starts with the caller's tenant), and its index and size.
 * KEYS: entry, index, sizes. ARGV: id, the value's expected start.
 */
const REMOVE = `
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, #ARGV[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
local bytes = redis.call('HGET', KEYS[3], ARGV[1])
if bytes then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('HINCRBY', KEYS[3], '${TOTAL}', '-' .. bytes)
end
return 1
`

/** A store command that has not answered by then counts as Redis being down: the caller gets a 503, not a hang. */
const STORE_TIMEOUT_MS = 2000

const within = <A>(what: string, run: () => Promise<A>): Promise<A> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis ${what} took over ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS)
  })
  return Promise.race([run(), late]).finally(() => clearTimeout(timer))
}

/** The value's start that names its caller: `remove` checks it without parsing the whole answer. */
const ownerPrefix = (tenant: string) => `{"t":${JSON.stringify(tenant)},`

const parse = (value: string, tenant: string): StoredResponse | undefined => {
  if (!value.startsWith(ownerPrefix(tenant))) return undefined
  try {
    const stored = JSON.parse(value) as { t: string; r?: unknown; c?: unknown }
    return typeof stored.r === "object" && stored.r !== null && Array.isArray(stored.c)
      ? { tenant, response: stored.r as Record<string, unknown>, conversation: stored.c }
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Stored responses in Redis, shared by every replica: one key per response under its caller's hash tag, expiry by
 * Redis TTL, and each caller held to `maxBytes`, oldest dropped first. Redis bounds the total with its `maxmemory`.
 */
export const makeRedisResponseStore = (redis: RedisCommands, maxBytes: number, ttlMs: number): ResponseStoreShape => ({
  backend: "redis",
  save: async (id, entry) => {
    const keys = keysOf(entry.tenant)
    const value = `${ownerPrefix(entry.tenant)}"r":${JSON.stringify(entry.response)},"c":${
      JSON.stringify(entry.conversation)
    }}`
    await within("EVAL", () =>
      redis.evalScript(SAVE, [keys.entryPrefix + id, keys.index, keys.sizes], [
        id,
        value,
        String(ttlMs),
        String(maxBytes),
        keys.entryPrefix,
        String(entryBytes(entry))
      ]))
  },
  get: async (id, tenant) => {
    const value = await within("GET", () => redis.get(keysOf(tenant).entryPrefix + id))
    return value === null ? undefined : parse(value, tenant)
  },
  remove: async (id, tenant) => {
    const keys = keysOf(tenant)
    const removed = await within(
      "EVAL",
      () => redis.evalScript(REMOVE, [keys.entryPrefix + id, keys.index, keys.sizes], [id, ownerPrefix(tenant)])
    )
    return removed === 1
  }
})
