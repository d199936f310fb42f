import { Clock, Context, Effect, Exit, Layer } from "effect"
import { type ExactKey, CacheKey } from "./CacheKey.ts"
import type { ChatRequest } from "./ChatRequest.ts"
import { Coalescer, type Lead, LeaderAbandoned } from "./Coalescer.ts"
import { isCacheable } from "./Completion.ts"
import { AppConfig } from "./Config.ts"
import { type CacheMiss, LayerUnavailable, ProviderError, type RouterDeclined } from "./errors.ts"
import { ExactCache } from "./ExactCache.ts"
import { Provider } from "./Provider.ts"
import { Router, type RoutingDecision } from "./Router.ts"
import { SemanticCache } from "./SemanticCache.ts"
import { tapSse } from "./SseTap.ts"

export type LayerName = "l1a" | "l1b" | "l2" | "l3"

/** What the pipeline answers with: a whole completion (serialised), or an upstream stream passed through. */
export type Answer =
  | {
    readonly _tag: "Complete"
    readonly layer: LayerName
    readonly completion: string
    readonly provider?: string
    /** On an L1b hit: the cosine similarity of the cached question. */
    readonly similarity?: number
    /** On an L1b hit: which stage found it (the fast static encoder or the full model). */
    readonly stage?: "fast" | "model"
    /** When L2 classified the request: what it decided. */
    readonly routing?: RoutingDecision
  }
  | {
    readonly _tag: "Stream"
    readonly layer: "l3"
    readonly body: ReadableStream<Uint8Array>
    readonly provider: string
    readonly routing?: RoutingDecision
  }

export interface PipelineStatus {
  readonly layers: Record<LayerName, { readonly status: string }>
}

/** How often, at most, dropped cache writes are reported per layer. */
export const WRITE_WARNING_INTERVAL_MS = 30_000

const declinedDecision = (declined: RouterDeclined): RoutingDecision => ({
  tier: declined.tier as RoutingDecision["tier"],
  by: declined.classifier as RoutingDecision["by"],
  ...(declined.confidence === undefined ? {} : { confidence: declined.confidence }),
  ...(declined.reason.startsWith("quality guard") ? { guard: declined.reason } : {})
})

/** Both "no entry" and "layer not usable" send a request on to the next layer; nothing else does. */
const fallThrough = <A, E, R>(next: () => Effect.Effect<A, E, R>) => ({
  CacheMiss: (_: CacheMiss) => next(),
  LayerUnavailable: (_: LayerUnavailable) => next()
})

/**
 * The one place layers are chained: L1a → L1b → L2 → L3. Each layer fails with `CacheMiss`, `LayerUnavailable`
 * or (L2) `RouterDeclined` to pass a request on; `ProviderError` is an answer and passes through untouched.
 */
export class Pipeline extends Context.Service<Pipeline, {
  readonly handle: (request: ChatRequest) => Effect.Effect<Answer, ProviderError>
  readonly status: Effect.Effect<PipelineStatus>
}>()("isartor/Pipeline") {
  static readonly layer = Layer.effect(
    Pipeline,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const cacheKey = yield* CacheKey
      const exactCache = yield* ExactCache
      const provider = yield* Provider
      const coalescer = yield* Coalescer
      // L1b is optional: without an embedder (none injected) the layer reports itself unavailable and is skipped.
      const semanticCache = yield* Effect.serviceOption(SemanticCache)
      // L2 likewise: present only when the router is configured.
      const router = yield* Effect.serviceOption(Router)
      // Background work started from outside a fiber (the end of a streamed answer) runs with these services.
      const runInBackground = Effect.runForkWith(yield* Effect.context<never>())
      const exactEnabled = config.cache_mode !== "semantic"
      const semanticEnabled = config.cache_mode !== "exact"

      const lookupExact = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, CacheMiss | LayerUnavailable> => {
        if (!exactEnabled) return Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "cache_mode excludes exact" }))
        if (!request.cacheRead) return Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "Cache-Control: no-cache" }))
        return exactCache.lookup(key).pipe(Effect.map((completion): Answer => ({ _tag: "Complete", layer: "l1a", completion })))
      }

      const lookupSemantic = (request: ChatRequest): Effect.Effect<Answer, CacheMiss | LayerUnavailable> => {
        if (!semanticEnabled) return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "cache_mode excludes semantic" }))
        if (semanticCache._tag === "None") return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "no embedder" }))
        if (!request.cacheRead) return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "Cache-Control: no-cache" }))
        return semanticCache.value.lookup(request, request.similarityThreshold ?? config.similarity_threshold).pipe(
          Effect.map((hit): Answer => ({ _tag: "Complete", layer: "l1b", completion: hit.completion, similarity: hit.similarity, stage: hit.stage }))
        )
      }

      const routeLocally = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, RouterDeclined | LayerUnavailable> => {
        if (router._tag === "None") return Effect.fail(new LayerUnavailable({ layer: "l2", reason: "router not configured" }))
        return router.value.route(request).pipe(
          Effect.flatMap(({ completion, decision }) => {
            const serialised = JSON.stringify(completion)
            return remember(request, key, serialised).pipe(
              Effect.as<Answer>({ _tag: "Complete", layer: "l2", completion: serialised, routing: decision })
            )
          })
        )
      }

      // Writes dropped while a cache is down are counted and reported at most once per interval and layer:
      // an outage under load must not flood the log with one line per request.
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
          return Effect.logWarning(`${error.layer}: ${count} cache write(s) dropped (${error.reason}); next report in ${WRITE_WARNING_INTERVAL_MS / 1000} s at the earliest`)
        })

      /** Writes a finished answer to the caches; a cache that is down costs deflection, never the answer. */
      const remember = (request: ChatRequest, key: ExactKey, completion: string) => {
        if (!request.cacheWrite) return Effect.void
        const skipped = (write: Effect.Effect<void, LayerUnavailable>) => write.pipe(Effect.catchTag("LayerUnavailable", dropWrite))
        const exact = exactEnabled ? exactCache.store(key, completion) : Effect.void
        // The L1b insert (an HNSW graph update, milliseconds at 100k entries) runs beside the answer, not before it.
        const semantic = semanticEnabled && semanticCache._tag === "Some"
          ? Effect.forkDetach(skipped(semanticCache.value.store(request, completion)))
          : Effect.void
        return Effect.all([skipped(exact), semantic], { discard: true })
      }

      const streamFromProvider = (request: ChatRequest, key: ExactKey, settle: Lead["settle"]) =>
        provider.stream(request).pipe(
          Effect.map(({ value: upstream, provider: answeredBy }): Answer => ({
            _tag: "Stream",
            layer: "l3",
            provider: answeredBy,
            body: tapSse(upstream, (end) => {
              if (end._tag === "Finished") {
                const completion = JSON.stringify(end.completion)
                runInBackground(remember(request, key, completion))
                settle(Exit.succeed({ completion, provider: answeredBy }))
              } else if (end._tag === "Cancelled") settle(Exit.fail(new LeaderAbandoned()))
              else settle(Exit.fail(new ProviderError({ provider: answeredBy, reason: "Upstream", message: end.message })))
            }, (error) => `upstream stream broke off: ${error instanceof Error ? error.message : String(error)}`)
          }))
        )

      const completeFromProvider = (request: ChatRequest, key: ExactKey) =>
        provider.complete(request).pipe(
          Effect.flatMap(({ value: completion, provider: answeredBy }) => {
            const serialised = JSON.stringify(completion)
            return (isCacheable(completion) ? remember(request, key, serialised) : Effect.void).pipe(
              Effect.as({ completion: serialised, provider: answeredBy })
            )
          })
        )

      /** L3, coalesced: the first of several identical concurrent misses calls upstream, the rest share its answer. */
      const callProvider = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, ProviderError> =>
        Effect.suspend(() => {
          const entry = coalescer.enter(key.key)
          if (entry._tag === "Follow") {
            return Coalescer.follow(entry.outcome).pipe(
              Effect.map((shared): Answer => ({ _tag: "Complete", layer: "l3", ...shared })),
              Effect.catchTag("LeaderAbandoned", () => callProvider(request, key))
            )
          }
          const { settle } = entry.lead
          // A leader interrupted (its client gone) leaves followers to call upstream themselves.
          const settleFailure = (exit: Exit.Exit<unknown, ProviderError>) => {
            if (Exit.isFailure(exit)) {
              settle(Exit.hasInterrupts(exit) ? Exit.fail(new LeaderAbandoned()) : Exit.failCause(exit.cause))
            }
          }
          if (request.stream) {
            return streamFromProvider(request, key, settle).pipe(Effect.onExit((exit) => Effect.sync(() => settleFailure(exit))))
          }
          return completeFromProvider(request, key).pipe(
            Effect.onExit((exit) => Effect.sync(() => (Exit.isSuccess(exit) ? settle(exit) : settleFailure(exit)))),
            Effect.map((shared): Answer => ({ _tag: "Complete", layer: "l3", ...shared }))
          )
        })

      return Pipeline.of({
        // Untraced on purpose: a span costs more than a whole exact-cache hit; L3 calls carry their own spans.
        handle: (request) => {
          const key = cacheKey.exactKey(request)
          return lookupExact(request, key).pipe(
            Effect.catchTags(fallThrough(() => lookupSemantic(request))),
            Effect.catchTags(fallThrough(() => routeLocally(request, key))),
            Effect.catchTags({
              LayerUnavailable: () => callProvider(request, key),
              // Declined by L2: L3 answers, and the answer still says what L2 decided.
              RouterDeclined: (declined: RouterDeclined) =>
                callProvider(request, key).pipe(Effect.map((answer): Answer => ({ ...answer, routing: declinedDecision(declined) })))
            })
          )
        },
        status: Effect.gen(function*() {
          const l1a = exactEnabled ? yield* exactCache.status : { status: "disabled", reason: "cache_mode" }
          return {
            layers: {
              l1a,
              l1b: !semanticEnabled
                ? { status: "disabled", reason: "cache_mode" }
                : semanticCache._tag === "None"
                ? { status: "unavailable", reason: "no embedder" }
                : semanticCache.value.status(),
              l2: router._tag === "None" ? { status: "disabled", reason: "router not configured" } : yield* router.value.status,
              l3: { status: provider.configured ? "ok" : "unconfigured", provider: provider.id, chain: provider.chain }
            }
          }
        })
      })
    })
  )
}
