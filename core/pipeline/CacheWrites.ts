import { Clock, Context, Effect, FiberSet, Layer } from "effect"
import { QUESTION_CHARS } from "../cache/CacheEntry.ts"
import type { ExactKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { LayerUnavailable } from "../domain/errors.ts"
import { textOf } from "../domain/messages.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"

/** The question an entry answers, as the admin API shows it: the last user message, its beginning. */
const questionOf = (request: ChatRequest): string => {
  const last = [...request.messages].reverse().find((message) => message.role === "user")
  return textOf(last?.content).slice(0, QUESTION_CHARS)
}

/** The UTF-8 size of `text`, counted only where its length cannot settle how it compares with `bound`. */
const utf8Length = (text: string, bound: number): number => {
  if (text.length * 3 <= bound || text.length > bound) return text.length
  let bytes = 0
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code < 0xdc00) (bytes += 4), index++
    else bytes += 3
  }
  return bytes
}

/** How often, at most, dropped cache writes are reported per layer. */
export const WRITE_WARNING_INTERVAL_MS = 30_000

/**
 * A write a cache could not take: dropped, counted, and reported at most once per interval and layer, so an outage
 * under load does not flood the log with one line per request.
 */
const makeOrDropped = () => {
  const throttle = makeReportThrottle(WRITE_WARNING_INTERVAL_MS)
  const dropWrite = (error: LayerUnavailable) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const count = throttle(error.layer, now)
      if (count === undefined) return Effect.void
      return Effect.logWarning(
        `${error.layer}: ${count} cache write(s) dropped (${error.reason}); next report in ${
          WRITE_WARNING_INTERVAL_MS / 1000
        } s at the earliest`
      )
    })
  return (write: Effect.Effect<void, LayerUnavailable>) => write.pipe(Effect.catchTag("LayerUnavailable", dropWrite))
}

/** Writes an answer to L1a, then starts its L1b insert beside the answer; see `CacheWrites.remember`. */
const makeRemember = (parts: {
  readonly exactCache: ExactCache["Service"]
  readonly semanticCache: SemanticCache["Service"]
  readonly config: AppConfigShape
  readonly clock: Clock.Clock
  readonly runInBackground: (effect: Effect.Effect<void>) => unknown
}) => {
  const { exactCache, semanticCache, config, clock, runInBackground } = parts
  const configuredTtlMs = config.cache_ttl_secs * 1000
  const orDropped = makeOrDropped()
  return (request: ChatRequest, key: ExactKey, completion: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!request.cacheWrite) return Effect.void
      // Served, not kept: one answer past its bound would push hundreds of ordinary ones out of the caches.
      if (utf8Length(completion, config.cache_max_entry_bytes) > config.cache_max_entry_bytes) {
        return Effect.logDebug(
          `cache write skipped: the answer is larger than ${config.cache_max_entry_bytes} bytes (cache_max_entry_bytes)`
        )
      }
      // What the admin API shows of the entry, in both layers, each naming the other.
      const ttlMs = Math.min(request.storeTtlMs ?? configuredTtlMs, configuredTtlMs)
      const created = clock.currentTimeMillisUnsafe()
      const meta = {
        tenant: request.tenant,
        model: request.model,
        question: questionOf(request),
        created,
        expires: created + ttlMs
      }
      const semanticKey = semanticCache.entryKey(request)
      // L1a first: an identical request that finds the answer in L1b has found it in L1a already, so it is
      // reported as the exact hit it is. The L1b insert (an HNSW graph update, slow on a large index)
      // then runs beside the answer.
      return orDropped(exactCache.store(key, completion, { ...meta, semanticKey }, ttlMs)).pipe(
        Effect.ensuring(Effect.sync(() =>
          runInBackground(
            orDropped(semanticCache.store(request, completion, { ...meta, exactKey: key.key }, ttlMs))
          )
        ))
      )
    })
}

/**
 * Writes finished answers to the caches. A cache that is down costs deflection, never the answer: its dropped
 * writes are counted and reported at most once per interval and layer, so an outage under load does not flood the
 * log with one line per request.
 */
export class CacheWrites extends Context.Service<CacheWrites, {
  /**
   * Writes an answer to the caches the request may write (none past `cache_max_entry_bytes`); L1b's insert runs
   * beside the answer, not before it.
   */
  readonly remember: (request: ChatRequest, key: ExactKey, completion: string) => Effect.Effect<void>
  /**
   * The same, started from outside a fiber (a stream that has just ended); `onWritten` runs once L1a has it (or
   * could not take it), so whoever waits for the answer stops waiting only when an identical request finds it there.
   */
  readonly rememberLater: (request: ChatRequest, key: ExactKey, completion: string, onWritten: () => void) => void
}>()("isartor/CacheWrites") {
  static readonly layer = Layer.effect(
    CacheWrites,
    Effect.gen(function*() {
      const exactCache = yield* ExactCache
      const config = yield* AppConfig
      const semanticCache = yield* SemanticCache
      // The gateway's clock: an entry's `created` and `expires` are on the time the caches age it by.
      const clock = yield* Clock.Clock
      // Background writes belong to the gateway: closing it interrupts those still running.
      const runInBackground = yield* FiberSet.makeRuntime<never, void, never>()
      const remember = makeRemember({ exactCache, semanticCache, config, clock, runInBackground })
      return CacheWrites.of({
        remember: (request, key, completion) =>
          Effect.withSpan(remember(request, key, completion), "cache.write", {
            attributes: { "isartor.cache.write": request.cacheWrite },
            captureStackTrace: false
          }),
        // From a stream's end, outside any request fiber: no span to hang it on.
        rememberLater: (request, key, completion, onWritten) =>
          void runInBackground(remember(request, key, completion).pipe(Effect.ensuring(Effect.sync(onWritten))))
      })
    })
  )
}
