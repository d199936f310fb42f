import { Effect } from "effect"
import { LayerUnavailable, messageOf } from "../domain/errors.ts"

/** The few commands the Redis stores need; the runtime provides them (node-redis), so `core/` opens no sockets. */
export interface RedisCommands {
  readonly get: (key: string) => Promise<string | null>
  readonly setWithTtl: (key: string, value: string, ttlMs: number) => Promise<void>
  readonly exists: (key: string) => Promise<boolean>
  /** Removes a key; whether it was there. */
  readonly del: (key: string) => Promise<boolean>
  readonly countKeys: (prefix: string) => Promise<number>
  /** Every key under the prefix with its value. */
  readonly entries: (prefix: string) => Promise<Array<[string, string]>>
  readonly publish: (channel: string, message: string) => Promise<void>
  /** Listens on a channel (reconnecting with the connection) until the returned function is called. */
  readonly subscribe: (channel: string, listener: (message: string) => void) => () => void
  /**
   * Runs a Lua script atomically on the node holding `keys`; on a cluster they (and any key the script builds) share
   * one hash tag.
   */
  readonly evalScript: (script: string, keys: ReadonlyArray<string>, args: ReadonlyArray<string>) => Promise<unknown>
}

/** A command that takes longer than this counts as Redis being down: the request goes on without the cache. */
export const COMMAND_TIMEOUT_MS = 250

/** One Redis round trip for a cache layer: any failure, or no answer within the timeout, is `LayerUnavailable`. */
export const redisCall = <A>(layer: "l1a" | "l1b", what: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      new LayerUnavailable({
        layer,
        reason: `redis ${what} failed: ${messageOf(error)}`
      })
  }).pipe(
    Effect.timeoutOrElse({
      duration: COMMAND_TIMEOUT_MS,
      orElse: () =>
        Effect.fail(new LayerUnavailable({ layer, reason: `redis ${what} took over ${COMMAND_TIMEOUT_MS} ms` }))
    })
  )
