import { Context, Effect, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { CacheKey, type ExactKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { routingRules } from "../config/modelAliases.ts"
import type { Answer } from "../domain/Answer.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { type LayerUnavailable, NotCached, type ProviderError, type RouterDeclined } from "../domain/errors.ts"
import { nowNanos } from "../observability/RequestSpan.ts"
import { Provider } from "../providers/Provider.ts"
import { Router, routerEnabled } from "../router/Router.ts"
import { CacheWrites } from "./CacheWrites.ts"
import { Coalescer } from "./Coalescer.ts"
import { type LayerCalls, makeLayerCalls, makeWiring, type Wiring } from "./layerCalls.ts"
import { type PipelineStatus, pipelineStatus } from "./PipelineStatus.ts"
import { makeRoutedUpstream } from "./routedUpstream.ts"
import { Upstream } from "./Upstream.ts"

export type { PipelineStatus } from "./PipelineStatus.ts"

type Answering = (request: ChatRequest, key: ExactKey) => Effect.Effect<Answer, ProviderError | NotCached>

/**
 * The layers past L1a: L1b, then L2, then L3 — or, for `only-if-cached`, L1b alone. An answer from the caches or L2
 * counts its tokens as saved, one from L3 does not.
 */
const makeBeyondExact = (
  config: AppConfigShape,
  calls: LayerCalls,
  wiring: Wiring,
  routedUpstream: (request: ChatRequest, key: ExactKey, tier: string) => Effect.Effect<Answer, ProviderError>
): Answering => {
  const { lookupSemantic, routeLocally, callUpstream } = calls
  const { fallThrough, reportOutage, saved } = wiring
  const notCached = Effect.fail(new NotCached())
  const throughRouter = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, ProviderError> =>
    lookupSemantic(request).pipe(
      Effect.catchTags(fallThrough(() => routeLocally(request, key))),
      Effect.map(saved),
      Effect.catchTags({
        LayerUnavailable: (unavailable: LayerUnavailable) =>
          Effect.andThen(reportOutage(unavailable.layer, unavailable.reason), callUpstream(request, key)),
        // Declined by L2: L3 answers, and the answer still says what L2 decided.
        RouterDeclined: (declined: RouterDeclined) =>
          Effect.andThen(reportOutage("l2", declined.reason), routedUpstream(request, key, declined.decision.tier))
            .pipe(
              Effect.map((answer): Answer => ({ ...answer, routing: declined.decision }))
            )
      })
    )
  // L2 turned off at wiring time: from L1b straight to L3. Its stand-in would only fail every request on, making
  // a failure (a stack trace) each time.
  const pastRouter = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, ProviderError> =>
    lookupSemantic(request).pipe(
      Effect.map(saved),
      Effect.catchTags(fallThrough(() => callUpstream(request, key)))
    )
  const beyondSemantic = routerEnabled(config) ? throughRouter : pastRouter
  return (request, key) =>
    request.onlyIfCached
      ? lookupSemantic(request).pipe(
        Effect.map(saved),
        Effect.catchTags({ CacheMiss: () => notCached, LayerUnavailable: () => notCached })
      )
      : beyondSemantic(request, key)
}

/**
 * Traced, a request that misses L1a opens its `gateway.request` span (an exact hit's is opened by the HTTP
 * edge once answered: see RequestSpan), which learns whose request it is — a hash, never a key — and the later
 * layers' spans hang under it.
 */
const underRequestSpan = (
  request: ChatRequest,
  l1aStartedAt: bigint,
  effect: Effect.Effect<Answer, ProviderError | NotCached>
) =>
  Effect.suspend(() => {
    const tenant = request.tenant.slice(0, request.tenant.indexOf("|"))
    const span = request.trace?.open(l1aStartedAt)
    // A route that did not hand its request's span over still gets one tree per request, rooted here.
    if (span === undefined) {
      return Effect.withSpan(effect, "gateway.request", {
        kind: "server",
        attributes: { "isartor.tenant": tenant },
        captureStackTrace: false
      })
    }
    span.attribute("isartor.tenant", tenant)
    return Effect.withParentSpan(effect, span)
  })

/** L1a, then the later layers — under the request's span when traces are on (chosen here, once). */
const makeHandle = (cacheKey: CacheKey["Service"], calls: LayerCalls, wiring: Wiring, beyondExact: Answering) => {
  const { lookupExact } = calls
  const { fallThrough, saved, traced } = wiring
  const pastExact = traced
    ? (request: ChatRequest, key: ExactKey, l1aStartedAt: bigint) =>
      underRequestSpan(request, l1aStartedAt, beyondExact(request, key))
    : beyondExact
  const l1aClock = traced ? nowNanos : () => 0n
  return (request: ChatRequest, key: ExactKey = cacheKey.exactKey(request)) => {
    const l1aStartedAt = l1aClock()
    return lookupExact(request, key).pipe(
      Effect.map(saved),
      Effect.catchTags(fallThrough(() => pastExact(request, key, l1aStartedAt)))
    )
  }
}

/**
 * The one place layers are chained: L1a → L1b → L2 → L3. Each layer fails with `CacheMiss`, `LayerUnavailable`
 * or (L2) `RouterDeclined` to pass a request on; `ProviderError` is an answer and passes through untouched. A layer
 * that is turned off is a stand-in chosen at wiring time that always passes the request on.
 */
export class Pipeline extends Context.Service<Pipeline, {
  /** Answers a request through the layers; `key` is its exact key when the caller has already computed it. */
  readonly handle: (request: ChatRequest, key?: ExactKey) => Effect.Effect<Answer, ProviderError | NotCached>
  /** The exact-cache key of a request, as `handle` computes it. */
  readonly exactKey: (request: ChatRequest) => ExactKey
  readonly status: Effect.Effect<PipelineStatus>
}>()("isartor/Pipeline") {
  static readonly layer = Layer.effect(
    Pipeline,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const cacheKey = yield* CacheKey
      const exactCache = yield* ExactCache
      const semanticCache = yield* SemanticCache
      const router = yield* Router
      const wiring = makeWiring(config, yield* Effect.context<never>())
      const calls = makeLayerCalls(
        { config, exactCache, semanticCache, router, writes: yield* CacheWrites, upstream: yield* Upstream },
        wiring
      )
      const routedUpstream = makeRoutedUpstream(config, routingRules(config), cacheKey, calls, wiring)
      return Pipeline.of({
        handle: makeHandle(cacheKey, calls, wiring, makeBeyondExact(config, calls, wiring, routedUpstream)),
        exactKey: cacheKey.exactKey,
        status: pipelineStatus({
          exactCache,
          semanticCache,
          router,
          provider: yield* Provider,
          budgets: yield* Budgets,
          coalescer: yield* Coalescer
        })
      })
    })
  )
}
