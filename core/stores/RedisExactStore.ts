import { Effect } from "effect"
import { KEY_VERSION } from "../CacheKey.ts"
import { LayerUnavailable } from "../errors.ts"
import type { ExactEntry, ExactStore } from "./ExactStore.ts"

/** The few commands the Redis stores need; the runtime provides them (node-redis), so `core/` opens no sockets. */
export interface RedisCommands {
  readonly get: (key: string) => Promise<string | null>
  readonly setWithTtl: (key: string, value: string, ttlMs: number) => Promise<void>
  readonly exists: (key: string) => Promise<boolean>
  readonly countKeys: (prefix: string) => Promise<number>
  /** Every key under the prefix with its value. */
  readonly entries: (prefix: string) => Promise<Array<[string, string]>>
  readonly publish: (channel: string, message: string) => Promise<void>
  /** Listens on a channel for as long as the connection lives (reconnecting with it). */
  readonly subscribe: (channel: string, listener: (message: string) => void) => void
}

/** A command that takes longer than this counts as Redis being down: the request goes on without the cache. */
const COMMAND_TIMEOUT_MS = 250

export const exactKeyPrefix = `isartor:v${KEY_VERSION}:l1a:`

const parseEntry = (value: string): ExactEntry | undefined => {
  try {
    const stored = JSON.parse(value) as { c?: unknown; a?: unknown }
    return typeof stored.c === "string" && typeof stored.a === "string" ? { check: stored.c, completion: stored.a } : undefined
  } catch {
    return undefined
  }
}

/**
 * L1a entries in Redis, shared by every replica: one key per entry under a versioned prefix, expiry by Redis TTL,
 * compact JSON values. Any failure or a slow answer is `LayerUnavailable`: deflection drops, nothing fails.
 */
export const makeRedisExactStore = (redis: RedisCommands, ttlMs: number): ExactStore => {
  const call = <A>(what: string, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => new LayerUnavailable({ layer: "l1a", reason: `redis ${what} failed: ${error instanceof Error ? error.message : String(error)}` }) }).pipe(
      Effect.timeoutOrElse({
        duration: COMMAND_TIMEOUT_MS,
        orElse: () => Effect.fail(new LayerUnavailable({ layer: "l1a", reason: `redis ${what} took over ${COMMAND_TIMEOUT_MS} ms` }))
      })
    )
  return {
    backend: "redis",
    get: (key) =>
      call("GET", () => redis.get(exactKeyPrefix + key)).pipe(
        Effect.flatMap((value) => {
          if (value === null) return Effect.succeed(undefined)
          const entry = parseEntry(value)
          // Something else under our prefix (a foreign writer, a truncated value) is a miss, never an answer.
          return entry ? Effect.succeed(entry) : Effect.as(Effect.logWarning(`l1a: unreadable value under ${exactKeyPrefix}${key}; treated as a miss`), undefined)
        })
      ),
    set: (key, entry) => call("SET", () => redis.setWithTtl(exactKeyPrefix + key, JSON.stringify({ c: entry.check, a: entry.completion }), ttlMs)),
    size: call("SCAN", () => redis.countKeys(exactKeyPrefix))
  }
}
