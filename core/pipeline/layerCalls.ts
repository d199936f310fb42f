import { type Context, Effect } from "effect"
import { entryIdOf } from "../cache/CacheEntry.ts"
import type { ExactKey } from "../cache/CacheKey.ts"
import type { ExactCache } from "../cache/exact/ExactCache.ts"
import type { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { Answer, LayerName } from "../domain/Answer.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { type CacheMiss, LayerUnavailable, type RouterDeclined } from "../domain/errors.ts"
import { countTokens, timeLayer } from "../observability/Metrics.ts"
import { makeOutageReport } from "../observability/outages.ts"
import { type Router, routerEnabled } from "../router/Router.ts"
import { pricesOf } from "../usage/prices.ts"
import type { CacheWrites } from "./CacheWrites.ts"
import type { Upstream } from "./Upstream.ts"

/**
 * `Cache-Control: no-cache`: the caches are not read for this request. One failure per layer, made once: an error
 * captures a stack trace when it is made, which every bypassing miss would pay.
 */
const notRead = {
  l1a: Effect.fail(new LayerUnavailable({ layer: "l1a", reason: "Cache-Control: no-cache" })),
  l1b: Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "Cache-Control: no-cache" }))
}
const unreadable = (request: ChatRequest, layer: "l1a" | "l1b") => request.cacheRead ? undefined : notRead[layer]

/** An answer the caches will hold (unless `no-store`): the L1a entry it is written under. */
export const storedUnder = (request: ChatRequest, key: ExactKey) =>
  request.cacheWrite ? { cacheKey: entryIdOf("l1a", key.key) } : {}

/**
 * What every step of the pipeline shares, chosen once at wiring time: how a request falls through, how an outage
 * is reported, whether spans are made, and how a hit counts its tokens as saved.
 */
export const makeWiring = (config: AppConfigShape, context: Context.Context<never>) => {
  // A layer that is down says so in the log (the guide's lines), once per `OUTAGE_REPORT_INTERVAL_MS`, and the request goes on.
  const reportOutage = makeOutageReport()
  /** Both "no entry" and "layer not usable" send a request on to the next layer; nothing else does. */
  const fallThrough = <A, E, R>(next: () => Effect.Effect<A, E, R>) => ({
    CacheMiss: (_: CacheMiss) => next(),
    LayerUnavailable: (unavailable: LayerUnavailable) =>
      Effect.andThen(reportOutage(unavailable.layer, unavailable.reason), next())
  })
  const prices = pricesOf(config)
  // A cache hit names no provider: any provider's model of that name.
  const price = (model: string) => prices("", model)
  // Spans only when they are exported: otherwise even a no-op span costs an exact hit a measurable share.
  const traced = config.enable_monitoring
  const span = traced
    ? (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.withSpan(effect, name, { captureStackTrace: false })
    : (_name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => effect
  const saved = (answer: Answer): Answer => {
    if (answer._tag === "Complete") countTokens(answer.completion, "saved", price, context)
    return answer
  }
  return { reportOutage, fallThrough, traced, span, saved }
}

export type Wiring = ReturnType<typeof makeWiring>

/** The services the layer calls reach. */
export interface LayerServices {
  readonly config: AppConfigShape
  readonly exactCache: ExactCache["Service"]
  readonly semanticCache: SemanticCache["Service"]
  readonly writes: CacheWrites["Service"]
  readonly router: Router["Service"]
  readonly upstream: Upstream["Service"]
}

/** A layer turned off at wiring time is not timed: its instant pass-through would pull the layer's p99 down. */
const timed = (layer: LayerName, on: boolean) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  on ? timeLayer(layer, effect) : effect

/** L1a's and L1b's lookups: a hit as an `Answer`; `CacheMiss` or `LayerUnavailable` passes the request on. */
const makeCacheLookups = (services: LayerServices, wiring: Wiring) => {
  const { config, exactCache, semanticCache } = services
  const { span } = wiring
  const timeExact = timed("l1a", config.cache_mode !== "semantic")
  const timeSemantic = timed("l1b", config.cache_mode !== "exact")

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

  return { lookupExact, lookupSemantic }
}

/** L2 and L3: an answer as an `Answer`, naming the L1a entry it is kept under; L2 may decline (`RouterDeclined`). */
const makeAnswerCalls = (services: LayerServices, wiring: Wiring) => {
  const { config, writes, router, upstream } = services
  const { span } = wiring
  const timeRouter = timed("l2", routerEnabled(config))

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

  return { routeLocally, callUpstream }
}

/**
 * Each layer's call as the pipeline makes it: its hit or answer as an `Answer`, timed and spanned as wired. A call
 * fails with `CacheMiss`, `LayerUnavailable` or (L2) `RouterDeclined` to pass the request on.
 */
export const makeLayerCalls = (services: LayerServices, wiring: Wiring) => ({
  ...makeCacheLookups(services, wiring),
  ...makeAnswerCalls(services, wiring)
})

export type LayerCalls = ReturnType<typeof makeLayerCalls>
