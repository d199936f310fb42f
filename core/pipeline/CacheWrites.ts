import { Clock, Context, Effect, FiberSet, Layer } from "effect"
import type { ExactKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { LayerUnavailable } from "../domain/errors.ts"

/** How often, at most, dropped cache writes are reported per layer. */
export const WRITE_WARNING_INTERVAL_MS = 30_000

/**
 * Writes finished answers to the caches. A cache that is down costs deflection, never the answer: its dropped
 * writes are counted and reported at most once per interval and layer, so an outage under load does not flood the
 * log with one line per request.
 */
export class CacheWrites extends Context.Service<CacheWrites, {
  /** Writes an answer to the caches the request may write; L1b's insert runs beside the answer, not before it. */
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
      const semanticCache = yield* SemanticCache
      // Background writes belong to the gateway: closing it interrupts those still running.
      const runInBackground = yield* FiberSet.makeRuntime<never, void, never>()

      const dropped = new Map<string, { count: number; lastWarned: number }>()
      const dropWrite = (error: LayerUnavailable) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const seen = dropped.get(error.layer) ?? { count: 0, lastWarned: Number.NEGATIVE_INFINITY }
          seen.count++
          dropped.set(error.layer, seen)
          if (now - seen.lastWarned < WRITE_WARNING_INTERVAL_MS) return Effect.void
          const count = seen.count
          seen.count = 0
          seen.lastWarned = now
          return Effect.logWarning(
            `${error.layer}: ${count} cache write(s) dropped (${error.reason}); next report in ${
              WRITE_WARNING_INTERVAL_MS / 1000
            } s at the earliest`
          )
        })
      const orDropped = (write: Effect.Effect<void, LayerUnavailable>) =>
        write.pipe(Effect.catchTag("LayerUnavailable", dropWrite))

      const remember = (request: ChatRequest, key: ExactKey, completion: string): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (!request.cacheWrite) return Effect.void
          // L1a first: an identical request that finds the answer in L1b has found it in L1a already, so it is
          // reported as the exact hit it is. The L1b insert (an HNSW graph update, milliseconds at 100k entries)
          // then runs beside the answer.
          return orDropped(exactCache.store(key, completion)).pipe(
            Effect.ensuring(Effect.sync(() => runInBackground(orDropped(semanticCache.store(request, completion)))))
          )
        })
      return CacheWrites.of({
        remember: (request, key, completion) =>
          Effect.withSpan(remember(request, key, completion), "cache.write", {
            attributes: { "isartor.cache.write": request.cacheWrite }
          }),
        // From a stream's end, outside any request fiber: no span to hang it on.
        rememberLater: (request, key, completion, onWritten) =>
          void runInBackground(remember(request, key, completion).pipe(Effect.ensuring(Effect.sync(onWritten))))
      })
    })
  )
}
