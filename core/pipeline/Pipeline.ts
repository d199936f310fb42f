import { Context, Effect, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { entryIdOf } from "../cache/CacheEntry.ts"
import { CacheKey, type ExactKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import { AppConfig } from "../config/Config.ts"
import { routingRules } from "../config/modelAliases.ts"
import type { Answer, LayerName } from "../domain/Answer.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import {
  type CacheMiss,
  LayerUnavailable,
  NotCached,
  type ProviderError,
  type RouterDeclined
} from "../domain/errors.ts"
import { countTokens, timeLayer } from "../observability/Metrics.ts"
import { makeOutageReport } from "../observability/outages.ts"
import { nowNanos } from "../observability/RequestSpan.ts"
import type { ProviderStatus } from "../providers/health/ProviderLink.ts"
import { movesOn, Provider } from "../providers/Provider.ts"
import { Router, routerEnabled } from "../router/Router.ts"
import { pricesOf } from "../usage/prices.ts"
import { CacheWrites } from "./CacheWrites.ts"
import { Coalescer, type CoalescingStatus } from "./Coalescer.ts"
import { Upstream } from "./Upstream.ts"

export interface PipelineStatus {
  readonly layers: Record<LayerName, { readonly status: string }>
  /** Each L3 provider's breaker, retry budget and keys (masked). */
  readonly providers?: ReadonlyArray<ProviderStatus>
  /** Budgets past their `warn_at` in their current window, for `/admin/overview`'s warnings. */
  readonly warnings?: ReadonlyArray<string>
  /** Upstream calls shared by identical requests now, and the requests waiting on them. */
  readonly coalescing?: CoalescingStatus
}

/**
 * `Cache-Control: no-cache`: the caches are not read for this request. One failure per layer, made once: an error
 * captures a stack trace when it is made, which cost a bypassing miss tens of microseconds.
 */
const notRead = {
  l1a: Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "Cache-Control: no-cache" })),
  l1b: Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "Cache-Control: no-cache" }))
}
const unreadable = (request: ChatRequest, layer: "l1a" | "l1b") => request.cacheRead ? undefined : notRead[layer]

/** A routing rule's target that cannot answer leaves the request to the default chain, whatever the reason. */
const failsOpen = (error: ProviderError) =>
  movesOn(error) || error.reason === "NotFound" || error.reason === "Unauthorized" ||
  error.reason === "BudgetExceeded"

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
      const writes = yield* CacheWrites
      const router = yield* Router
      const upstream = yield* Upstream
      const provider = yield* Provider
      const budgets = yield* Budgets
      const coalescer = yield* Coalescer
      const rules = routingRules(config)
      // A layer that is down says so in the log (the guide's lines), once per 30 s, and the request goes on.
      const reportOutage = makeOutageReport()
      /** Both "no entry" and "layer not usable" send a request on to the next layer; nothing else does. */
      const fallThrough = <A, E, R>(next: () => Effect.Effect<A, E, R>) => ({
        CacheMiss: (_: CacheMiss) => next(),
        LayerUnavailable: (unavailable: LayerUnavailable) =>
          Effect.andThen(reportOutage(unavailable.layer, unavailable.reason), next())
      })
      const context = yield* Effect.context<never>()
      const notCached = Effect.fail(new NotCached())
      /** An answer the caches will hold (unless `no-store`): the L1a entry it is written under. */
      const storedUnder = (request: ChatRequest, key: ExactKey) =>
        request.cacheWrite ? { cacheKey: entryIdOf("l1a", key.key) } : {}
      const prices = pricesOf(config)
      // A cache hit names no provider: any provider's model of that name.
      const price = (model: string) => prices("", model)
      // Spans only when they are exported: otherwise even a no-op span costs an exact hit a measurable share.
      const traced = config.enable_monitoring
      const span = traced
        ? (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
          Effect.withSpan(effect, name, { captureStackTrace: false })
        : (_name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => effect
      // A layer turned off at wiring time is not timed: its instant pass-through would pull the layer's p99 down.
      const timed = (layer: LayerName, on: boolean) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        on ? timeLayer(layer, effect) : effect
      const exactTimed = config.cache_mode !== "semantic"
      const timeExact = timed("l1a", exactTimed)
      const timeSemantic = timed("l1b", config.cache_mode !== "exact")
      const timeRouter = timed("l2", routerEnabled(config))
      const saved = (answer: Answer): Answer => {
        if (answer._tag === "Complete") countTokens(answer.completion, "saved", price, context)
        return answer
      }

      const lookupExact = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, CacheMiss | LayerUnavailable> =>
        unreadable(request, "l1a") ??
          exactCache.lookupHit(key, request.maxAgeMs).pipe(
            Effect.map((hit): Answer => ({
              _tag: "Complete",
              layer: "l1a",
              completion: hit.completion,
              cacheKey: entryIdOf("l1a", key.key),
              created: hit.created
            })),
            timeExact
          )

      const lookupSemantic = (request: ChatRequest): Effect.Effect<Answer, CacheMiss | LayerUnavailable> =>
        unreadable(request, "l1b") ??
          semanticCache.lookup(request, request.similarityThreshold ?? config.similarity_threshold, request.maxAgeMs)
            .pipe(
              Effect.map((hit): Answer => ({
                _tag: "Complete",
                layer: "l1b",
                completion: hit.completion,
                cacheKey: entryIdOf("l1b", hit.id),
                created: hit.created,
                similarity: hit.similarity,
                score: hit.score,
                stage: hit.stage
              })),
              timeSemantic,
              span("l1b.lookup")
            )

      const routeLocally = (
        request: ChatRequest,
        key: ExactKey
      ): Effect.Effect<Answer, RouterDeclined | LayerUnavailable> =>
        timeRouter(router.route(request)).pipe(
          Effect.flatMap(({ completion, decision }) => {
            const serialised = JSON.stringify(completion)
            return writes.remember(request, key, serialised).pipe(
              Effect.as<Answer>({
                _tag: "Complete",
                layer: "l2",
                completion: serialised,
                routing: decision,
                ...storedUnder(request, key)
              })
            )
          })
        )

      const callUpstream = (request: ChatRequest, key: ExactKey) =>
        upstream.call(request, key).pipe(
          Effect.map((answer): Answer => ({ ...answer, ...storedUnder(request, key) })),
          (call) => timeLayer("l3", call),
          span("l3.provider")
        )

      /**
       * L3 for a request L2 classified: the model its tier's `[routing]` rule names — a request for that model, whose
       * exact key names it, so its answers are shared with the model's own — else, or when that model fails, the
       * default chain.
       */
      const routedUpstream = (
        request: ChatRequest,
        key: ExactKey,
        tier: string
      ): Effect.Effect<Answer, ProviderError> => {
        const rule = rules.get(tier)
        if (rule === undefined) return callUpstream(request, key)
        const model = rule.model
        const source = request.source
        const routed: ChatRequest = {
          ...request,
          body: { ...request.body, model },
          model,
          provider: rule.provider,
          routedTier: tier,
          // Anthropic's and OpenAI's bodies name the model (the key is made of the body, and the upstream is sent its
          // text); Gemini's path does.
          source: source === undefined || source.format === "gemini" ? source : {
            ...source,
            body: { ...source.body, model },
            text: JSON.stringify({ ...source.body, model })
          }
        }
        const routedKey = cacheKey.exactKey(routed)
        const by = {
          tier,
          to: `${rule.provider ?? config.llm_provider}/${model}`,
          from: { provider: request.provider ?? config.llm_provider, model: request.model }
        }
        return lookupExact(routed, routedKey).pipe(
          Effect.map(saved),
          Effect.catchTags(fallThrough(() => callUpstream(routed, routedKey))),
          Effect.map((answer): Answer => ({ ...answer, routed: by })),
          Effect.catchTag(
            "ProviderError",
            (error) => failsOpen(error) ? callUpstream(request, key) : Effect.fail(error)
          )
        )
      }

      /** L1b, then L2, then L3; an answer from the caches or L2 counts its tokens as saved, one from L3 does not. */
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

      const beyondExact = (request: ChatRequest, key: ExactKey): Effect.Effect<Answer, ProviderError | NotCached> =>
        request.onlyIfCached
          ? lookupSemantic(request).pipe(
            Effect.map(saved),
            Effect.catchTags({ CacheMiss: () => notCached, LayerUnavailable: () => notCached })
          )
          : beyondSemantic(request, key)

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

      /** Past L1a: the later layers, under the request's span when traces are on (chosen here, once). */
      const pastExact = traced
        ? (request: ChatRequest, key: ExactKey, l1aStartedAt: bigint) =>
          underRequestSpan(request, l1aStartedAt, beyondExact(request, key))
        : beyondExact
      const l1aClock = traced ? nowNanos : () => 0n

      const handle = (
        request: ChatRequest,
        key: ExactKey = cacheKey.exactKey(request)
      ): Effect.Effect<Answer, ProviderError | NotCached> => {
        const l1aStartedAt = l1aClock()
        return lookupExact(request, key).pipe(
          Effect.map(saved),
          Effect.catchTags(fallThrough(() => pastExact(request, key, l1aStartedAt)))
        )
      }

      return Pipeline.of({
        handle,
        exactKey: cacheKey.exactKey,
        status: Effect.gen(function*() {
          return {
            layers: {
              l1a: yield* exactCache.status,
              l1b: yield* semanticCache.status,
              l2: yield* router.status,
              l3: { status: provider.configured ? "ok" : "unconfigured", provider: provider.id, chain: provider.chain }
            },
            providers: yield* provider.status,
            warnings: yield* budgets.warnings,
            coalescing: yield* coalescer.status
          }
        })
      })
    })
  )
}
