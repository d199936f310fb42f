import { Effect } from "effect"
import { redisCall, type RedisCommands } from "../../redis/RedisCommands.ts"
import { KEY_VERSION } from "../CacheKey.ts"
import type { ExactEntry, ExactStore } from "./ExactStore.ts"

export const exactKeyPrefix = `isartor:v${KEY_VERSION}:l1a:`

const parseEntry = (value: string): ExactEntry | undefined => {
  try {
    const stored = JSON.parse(value) as { c?: unknown; a?: unknown }
    return typeof stored.c === "string" && typeof stored.a === "string"
      ? { check: stored.c, completion: stored.a }
      : undefined
  } catch {
    return undefined
  }
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
    set: (key, entry) =>
      call(
        "SET",
        () => redis.setWithTtl(exactKeyPrefix + key, JSON.stringify({ c: entry.check, a: entry.completion }), ttlMs)
      ),
    size: call("SCAN", () => redis.countKeys(exactKeyPrefix))
  }
}
