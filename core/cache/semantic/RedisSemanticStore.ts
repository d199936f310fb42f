import { Context, Effect, Layer } from "effect"
import { AppConfig } from "../../config/Config.ts"
import type { LayerUnavailable } from "../../domain/errors.ts"
import { vectorFromBase64, vectorToBase64 } from "../../embedding/vectorCodec.ts"
import { redisCall, type RedisCommands } from "../../redis/RedisCommands.ts"
import { KEY_VERSION } from "../CacheKey.ts"
import { type BudgetDelta, emptyCounts, type RegionCounts, REGIONS, type SharedBudget } from "./decision/ErrorBudget.ts"
import type { SemanticMeta } from "./LabelledIndex.ts"

/** One L1b entry as every replica sees it. */
export interface SharedSemanticEntry {
  readonly scope: string
  readonly text: string
  readonly completion: string
  readonly vector: Float32Array
  readonly meta?: SemanticMeta | undefined
  /** The encoder the vector is of, and the decision version at the time (see `SemanticEntry`). */
  readonly encoder?: string | undefined
  readonly decision?: string | undefined
}

export const semanticKeyPrefix = `isartor:v${KEY_VERSION}:l1b:`
/** Pub/sub, not Streams: a replica only needs to hear "entry X was added" while it runs; what it missed while down it
 * loads from the keys at start-up, and a message lost in between costs one hit, never a wrong answer. */
export const semanticChannel = `isartor:v${KEY_VERSION}:l1b:added`
/** Entries an operator removed: replicas drop them from their index at once (serving one also checks its key). */
export const semanticRemovedChannel = `isartor:v${KEY_VERSION}:l1b:removed`

/**
 * The error budget's observations, per decision: counts per band (a digest of the scope, and the stage) and score
 * region, fields `<band>/<s|o|w><region>`; the entries' marks; and when each mark and each band lapses (sorted
 * sets). One hash tag, so that on a cluster the script that updates them runs on one node.
 */
export const budgetKeys = (decision: string) => [
  `isartor:v${KEY_VERSION}:{l1b-budget}:counts:${decision}`,
  `isartor:v${KEY_VERSION}:{l1b-budget}:marks:${decision}`,
  `isartor:v${KEY_VERSION}:{l1b-budget}:lapses:${decision}`,
  `isartor:v${KEY_VERSION}:{l1b-budget}:band-lapses:${decision}`
]

/**
 * Adds a replica's counts, raises its marks (never lowers one), drops removed entries' marks; then drops the marks
 * that outlived their entries (a mark lapses one entry TTL after it was last sent: a replica sends it again when the
 * entry is stored again) and, past the cap, the oldest; likewise a band's counts (one entry TTL after its last
 * count: the scope is cold again, it serves nothing until it has observations); returns the totals.
 */
const SYNC_BUDGET = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local i = 4
local ttl, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
for _ = 1, tonumber(ARGV[3]) do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  local band = string.match(ARGV[i], '^(.+)/[sow]%d+$')
  if band then redis.call('ZADD', KEYS[4], now + ttl, band) end
  i = i + 2
end
local marks = tonumber(ARGV[i]); i = i + 1
for _ = 1, marks do
  local old = redis.call('HGET', KEYS[2], ARGV[i])
  if (not old) or tonumber(old) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[3], now + ttl, ARGV[i])
  i = i + 2
end
local removed = tonumber(ARGV[i]); i = i + 1
for _ = 1, removed do redis.call('HDEL', KEYS[2], ARGV[i]); redis.call('ZREM', KEYS[3], ARGV[i]); i = i + 1 end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, id in ipairs(lapsed) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local over = redis.call('ZCARD', KEYS[3]) - cap
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[3], over)
  for j = 1, #oldest, 2 do redis.call('HDEL', KEYS[2], oldest[j]) end
end
local function dropBand(band)
  for _, field in ipairs({'s', 'o', 'w'}) do
    for region = 0, ${REGIONS - 1} do redis.call('HDEL', KEYS[1], band .. '/' .. field .. region) end
  end
end
for _, band in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)) do dropBand(band) end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local bandsOver = redis.call('ZCARD', KEYS[4]) - cap
if bandsOver > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[4], bandsOver)
  for j = 1, #oldest, 2 do dropBand(oldest[j]) end
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`

const FIELDS = { seen: "s", observed: "o", wrong: "w" } as const

const budgetArguments = (delta: BudgetDelta, ttlMs: number, maxMarks: number): Array<string> => {
  const increments: Array<string> = []
  for (const [band, counts] of delta.counts) {
    for (const field of ["seen", "observed", "wrong"] as const) {
      counts[field].forEach((by, region) => {
        if (by !== 0) increments.push(`${band}/${FIELDS[field]}${region}`, String(by))
      })
    }
  }
  return [
    String(ttlMs),
    String(maxMarks),
    String(increments.length / 2),
    ...increments,
    String(delta.marks.length),
    ...delta.marks.flatMap(([id, above]) => [id, String(above)]),
    String(delta.removed.length),
    ...delta.removed
  ]
}

/** The totals as the script returns them (flat field/value lists); anything unexpected reads as nothing. */
const budgetOf = (reply: unknown): SharedBudget => {
  const counts = new Map<string, RegionCounts>()
  const marks = new Map<string, number>()
  const [countList, markList] = Array.isArray(reply) ? reply as Array<unknown> : []
  const pairs = (list: unknown) => {
    const flat = Array.isArray(list) ? list.map(String) : []
    return Array.from(
      { length: Math.floor(flat.length / 2) },
      (_, i) => [flat[2 * i]!, Number(flat[2 * i + 1])] as const
    )
  }
  for (const [key, value] of pairs(countList)) {
    const slash = key.lastIndexOf("/")
    if (slash <= 0) continue
    const band = key.slice(0, slash)
    const field = key.slice(slash + 1)
    const region = Number(field.slice(1))
    const name = field[0] === "s" ? "seen" : field[0] === "o" ? "observed" : field[0] === "w" ? "wrong" : undefined
    if (!name || !(region >= 0 && region < REGIONS) || !Number.isFinite(value)) continue
    let bandCounts = counts.get(band)
    if (bandCounts === undefined) counts.set(band, bandCounts = emptyCounts())
    bandCounts[name][region] = value
  }
  for (const [id, above] of pairs(markList)) if (Number.isFinite(above)) marks.set(id, above)
  return { counts, marks }
}

const encode = (entry: SharedSemanticEntry) =>
  JSON.stringify({
    s: entry.scope,
    t: entry.text,
    a: entry.completion,
    v: vectorToBase64(entry.vector),
    ...(entry.meta ? { m: entry.meta } : {}),
    ...(entry.encoder ? { e: entry.encoder } : {}),
    ...(entry.decision ? { d: entry.decision } : {})
  })
/** An entry as stored, or `undefined` for anything else found under the prefix (never trusted, never a crash). */
const decode = (value: string): SharedSemanticEntry | undefined => {
  try {
    const raw = JSON.parse(value) as {
      s?: unknown
      t?: unknown
      a?: unknown
      v?: unknown
      m?: SemanticMeta
      e?: unknown
      d?: unknown
    }
    if (
      typeof raw.s !== "string" || typeof raw.t !== "string" || typeof raw.a !== "string" || typeof raw.v !== "string"
    ) return undefined
    const vector = vectorFromBase64(raw.v)
    const meta = typeof raw.m === "object" && raw.m !== null && typeof raw.m.created === "number" ? raw.m : undefined
    const encoder = typeof raw.e === "string" ? raw.e : undefined
    const decision = typeof raw.d === "string" ? raw.d : undefined
    return vector.length > 0
      ? { scope: raw.s, text: raw.t, completion: raw.a, vector, meta, encoder, decision }
      : undefined
  } catch {
    return undefined
  }
}

/**
 * L1b entries in Redis, the truth every replica's local HNSW index follows: an entry is written with a Redis TTL
 * and announced on a channel; replicas load all entries at start, add announced ones as they arrive, and check an
 * entry still exists before serving it (so expired or flushed entries are never served and leave the index).
 */
export class SharedSemanticStore extends Context.Service<SharedSemanticStore, {
  readonly put: (id: string, entry: SharedSemanticEntry, ttlMs?: number) => Effect.Effect<void, LayerUnavailable>
  /** Removes an entry for every replica; whether it was there. */
  readonly remove: (id: string) => Effect.Effect<boolean, LayerUnavailable>
  readonly exists: (id: string) => Effect.Effect<boolean, LayerUnavailable>
  readonly loadAll: () => Promise<Array<[string, SharedSemanticEntry]>>
  /** Calls `listener` for every entry another replica adds, until the returned function is called. */
  readonly onAdded: (listener: (id: string, entry: SharedSemanticEntry) => void) => () => void
  /** Sends this replica's observations of `decision` and reads every replica's totals. */
  readonly syncBudget: (decision: string, delta: BudgetDelta) => Effect.Effect<SharedBudget, LayerUnavailable>
  /** Calls `listener` with the id of every entry removed (by any replica), until the returned function is called. */
  readonly onRemoved: (listener: (id: string) => void) => () => void
}>()("isartor/SharedSemanticStore") {
  /** The store on `redis`, its entries living `ttlMs`; at most `maxMarks` entry marks, and bands, kept. */
  static readonly make = (redis: RedisCommands, ttlMs: number, maxMarks = 100_001) =>
    SharedSemanticStore.of({
      put: (id, entry, entryTtlMs) =>
        redisCall("l1b", "SET", async () => {
          await redis.setWithTtl(semanticKeyPrefix + id, encode(entry), entryTtlMs ?? ttlMs)
          await redis.publish(semanticChannel, id)
        }),
      remove: (id) =>
        redisCall("l1b", "DEL", async () => {
          const removed = await redis.del(semanticKeyPrefix + id)
          await redis.publish(semanticRemovedChannel, id)
          return removed
        }),
      syncBudget: (decision, delta) =>
        redisCall(
          "l1b",
          "EVAL",
          () => redis.evalScript(SYNC_BUDGET, budgetKeys(decision), budgetArguments(delta, ttlMs, maxMarks))
        ).pipe(Effect.map(budgetOf)),
      onRemoved: (listener) => redis.subscribe(semanticRemovedChannel, listener),
      exists: (id) => redisCall("l1b", "EXISTS", () => redis.exists(semanticKeyPrefix + id)),
      loadAll: async () =>
        (await redis.entries(semanticKeyPrefix)).flatMap(([key, value]): Array<[string, SharedSemanticEntry]> => {
          const entry = decode(value)
          return entry ? [[key.slice(semanticKeyPrefix.length), entry]] : []
        }),
      onAdded: (listener) =>
        redis.subscribe(semanticChannel, (id) => {
          void redis.get(semanticKeyPrefix + id).then((value) => {
            const entry = value === null ? undefined : decode(value)
            if (entry) listener(id, entry)
          }, () => undefined)
        })
    })

  static readonly layer = (redis: RedisCommands) =>
    Layer.effect(
      SharedSemanticStore,
      Effect.map(AppConfig, (config) =>
        SharedSemanticStore.make(redis, config.cache_ttl_secs * 1000, config.cache_max_capacity + 1))
    )
}
