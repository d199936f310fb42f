import type { RedisCommands } from "../redis/RedisCommands.ts"
import type { UsageRow } from "./UsageRow.ts"
import {
  HOUR_MS,
  hourOf,
  RECENT_ROWS,
  rollupFromKey,
  rollupKey,
  rollupsOf,
  SUM_FIELDS,
  type UsageRollup,
  type UsageStore
} from "./UsageStore.ts"

/**
 * Every key of the ledger shares one hash tag: in a Redis Cluster they live in one slot, so one script can write a
 * whole batch (one round trip, atomic: every replica's increments add up, none is lost to another's).
 */
const PREFIX = "{isartor:usage}"
const RECENT = `${PREFIX}:recent`
const hourKey = (hour: number) => `${PREFIX}:h:${hour}`

/**
 * ARGV[1]: the rollups as JSON `[[hourKey, expireAtSecs, field, increment, …], …]`; ARGV[2…]: the rows as JSON.
 * Each field of an hour's hash is `<caller>\0<provider>\0<model>\0<layer>\0<sum>`.
 */
const APPEND = `
local rollups = cjson.decode(ARGV[1])
for _, rollup in ipairs(rollups) do
  for i = 3, #rollup, 2 do redis.call('HINCRBYFLOAT', rollup[1], rollup[i], rollup[i + 1]) end
  redis.call('EXPIREAT', rollup[1], rollup[2])
end
for i = 2, #ARGV do redis.call('LPUSH', KEYS[1], ARGV[i]) end
redis.call('LTRIM', KEYS[1], 0, ${RECENT_ROWS - 1})
return #rollups
`

/** ARGV: the hour keys of a window; answers each one's hash as a flat list, in order. */
const READ = `
local found = {}
for i = 1, #ARGV do found[i] = redis.call('HGETALL', ARGV[i]) end
return found
`

/**
 * The ledger in Redis (`cache_backend = redis`): hourly rollups as hashes incremented atomically, each expiring
 * when its hour passes the retention; the recent rows a capped list. Every replica writes the one ledger.
 */
export const makeRedisUsageStore = (redis: RedisCommands, retentionMs: number): UsageStore => ({
  append: async (rows: ReadonlyArray<UsageRow>, summed?: ReadonlyArray<UsageRollup>) => {
    const rollups = (summed ?? rollupsOf(rows)).reduce((byHour, rollup) => {
      const key = hourKey(rollup.hour)
      let fields = byHour.get(key)
      if (fields === undefined) {
        byHour.set(key, fields = [key, Math.ceil((rollup.hour + HOUR_MS + retentionMs) / 1000)])
      }
      const identity = rollupKey(rollup).slice(String(rollup.hour).length + 1)
      for (const field of SUM_FIELDS) if (rollup[field] !== 0) fields.push(`${identity}\u0000${field}`, rollup[field])
      return byHour
    }, new Map<string, Array<string | number>>())
    await redis.evalScript(APPEND, [RECENT], [
      JSON.stringify([...rollups.values()]),
      ...rows.map((row) => JSON.stringify(row))
    ])
  },
  rollups: async ({ since, until }) => {
    const hours: Array<number> = []
    for (let hour = hourOf(since); hour < until; hour += HOUR_MS) hours.push(hour)
    if (hours.length === 0) return []
    const hashes = await redis.evalScript(READ, [RECENT], hours.map(hourKey)) as Array<Array<string>>
    const found: Array<UsageRollup> = []
    hashes.forEach((flat, index) => {
      const byIdentity = new Map<string, Record<string, number>>()
      for (let at = 0; at + 1 < flat.length; at += 2) {
        const field = flat[at]!
        const cut = field.lastIndexOf("\u0000")
        const identity = field.slice(0, cut)
        let sums = byIdentity.get(identity)
        if (sums === undefined) byIdentity.set(identity, sums = Object.fromEntries(SUM_FIELDS.map((name) => [name, 0])))
        sums[field.slice(cut + 1)] = Number(flat[at + 1])
      }
      for (const [identity, sums] of byIdentity) {
        found.push({ ...rollupFromKey(`${hours[index]}\u0000${identity}`), ...sums } as UsageRollup)
      }
    })
    return found
  },
  recent: async (limit) => {
    if (limit <= 0) return []
    const rows = await redis.evalScript(
      `return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)`,
      [RECENT],
      [String(Math.min(limit, RECENT_ROWS))]
    ) as Array<string>
    return rows.map((row) => JSON.parse(row) as UsageRow)
  },
  // Each hour's hash expires by itself; the recent rows are capped, not aged.
  prune: async () => undefined
})
