import { Effect } from "effect"
import { LayerUnavailable, messageOf } from "../../domain/errors.ts"
import { redisCall, type RedisCommands } from "../../redis/RedisCommands.ts"
import { KEY_VERSION } from "../CacheKey.ts"
import type { ExactEntry, ExactMeta, ExactStore } from "./ExactStore.ts"

export const exactKeyPrefix = `isartor:v${KEY_VERSION}:l1a:`

const parseEntry = (value: string): ExactEntry | undefined => {
  try {
    const stored = JSON.parse(value) as { c?: unknown; a?: unknown; m?: ExactMeta }
    return typeof stored.c === "string" && typeof stored.a === "string"
      ? { check: stored.c, completion: stored.a, ...(isMeta(stored.m) ? { meta: stored.m } : {}) }
      : undefined
  } catch {
    return undefined
  }
}

const isMeta = (meta: unknown): meta is ExactMeta => {
  const candidate = meta as Partial<ExactMeta> | undefined
  return typeof candidate === "object" && candidate !== null && typeof candidate.tenant === "string" &&
    typeof candidate.model === "string" && typeof candidate.question === "string" &&
    typeof candidate.created === "number" && typeof candidate.expires === "number"
}

/**
 * L1a entries in Redis, shared by every replica: one key per entry under a versioned prefix, expiry by Redis TTL,
 * compact JSON values. Any failure or a slow answer is `LayerUnavailable`: deflection drops, nothing fails.
 */
export const makeRedisExactStore = (redis: RedisCommands, ttlMs: number): ExactStore => {
  const call = <A>(what: string, run: () => Promise<A>) => redisCall("l1a", what, run)
  return {
    backend: "redis",
    get: (key) =>
      call("GET", () => redis.get(exactKeyPrefix + key)).pipe(
        Effect.flatMap((value) => {
          if (value === null) return Effect.succeed(undefined)
          const entry = parseEntry(value)
          // Something else under our prefix (a foreign writer, a truncated value) is a miss, never an answer.
          return entry
            ? Effect.succeed(entry)
            : Effect.as(
              Effect.logWarning(`l1a: unreadable value under ${exactKeyPrefix}${key}; treated as a miss`),
              undefined
            )
        })
      ),
    set: (key, entry, entryTtlMs) =>
      call(
        "SET",
        () =>
          redis.setWithTtl(
            exactKeyPrefix + key,
            JSON.stringify({ c: entry.check, a: entry.completion, ...(entry.meta ? { m: entry.meta } : {}) }),
            entryTtlMs ?? ttlMs
          )
      ),
    remove: (key) => call("DEL", () => redis.del(exactKeyPrefix + key)),
    // Not bounded by the request path's timeout: a listing scans every key, as an operator asked.
    list: Effect.tryPromise({
      try: () => redis.entries(exactKeyPrefix),
      catch: (error) => new LayerUnavailable({ layer: "l1a", reason: `redis SCAN failed: ${messageOf(error)}` })
    }).pipe(Effect.map((found) =>
      found.flatMap(([key, value]) => {
        const entry = parseEntry(value)
        return entry ? [[key.slice(exactKeyPrefix.length), entry] as const] : []
      })
    )),
    size: call("SCAN", () => redis.countKeys(exactKeyPrefix))
  }
}
