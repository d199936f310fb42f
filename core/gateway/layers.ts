import { Clock, Effect, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { CacheAdmin } from "../cache/CacheAdmin.ts"
import { CacheKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { makeRedisExactStore } from "../cache/exact/RedisExactStore.ts"
import { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import { semanticCacheLayer } from "../cache/semantic/semanticLayer.ts"
import { AppConfig, ConfigReport, type ConfigSources, loadConfig, type LoadedConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { Embedder } from "../embedding/Embedder.ts"
import { CacheWrites } from "../pipeline/CacheWrites.ts"
import { Coalescer } from "../pipeline/Coalescer.ts"
import { Embeddings } from "../pipeline/Embeddings.ts"
import { Pipeline } from "../pipeline/Pipeline.ts"
import { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import { Upstream } from "../pipeline/Upstream.ts"
import { Provider } from "../providers/Provider.ts"
import { makeRedisResponseStore } from "../responses/RedisResponseStore.ts"
import { ResponseStore } from "../responses/ResponseStore.ts"
import { Classifier } from "../router/Classifier.ts"
import { type EmbeddedEngine, LocalModel } from "../router/LocalModel.ts"
import { Router, routerEnabled } from "../router/Router.ts"
import { LEVELS, type LogFormat } from "./logging.ts"
import type { GatewayOptions, RedisConnection } from "./options.ts"
import { acquireEmbedded, acquireRedis, acquireSemantic, type LoadedSemantic } from "./resources.ts"
import { telemetryLayer } from "./telemetry.ts"
import { usageLedger } from "./usage.ts"

/** L2: the router with its classifier and its small model (sidecar, or the embedded engine / why it is missing). */
const routerLayer = (config: AppConfigShape, embedded?: EmbeddedEngine | string) => {
  const model = config.layer2.inference_engine === "embedded"
    ? LocalModel.layerEmbedded(embedded ?? "this runtime provides no embedded engine")
    : LocalModel.layerSidecar
  const classifier: Layer.Layer<Classifier, never, AppConfig | LocalModel | Embedder | CacheKey> =
    config.layer2.classifier === "embedding" ? Classifier.layerEmbedding : Classifier.layerModel
  return Router.layer.pipe(Layer.provide(classifier), Layer.provide(model))
}

/** The layers of a running gateway, wired: the single composition root every runtime and test starts from. */
export const gatewayLayer = (
  config: AppConfigShape,
  semantic?: LoadedSemantic,
  redis?: RedisConnection,
  embedded?: EmbeddedEngine | string
) => {
  // A layer that is turned off is a stand-in that passes every request on, chosen here once.
  const exact = config.cache_mode === "semantic"
    ? ExactCache.layerDisabled
    : redis
    ? ExactCache.layerStore(makeRedisExactStore(redis.commands, config.cache_ttl_secs * 1000))
    : ExactCache.layerMemory
  const semanticCache = config.cache_mode === "exact"
    ? SemanticCache.layerDisabled("disabled", "cache_mode")
    : !semantic
    ? SemanticCache.layerDisabled("unavailable", "no embedder")
    : semanticCacheLayer(config, semantic, redis?.commands)
  const router = routerEnabled(config) ? routerLayer(config, embedded) : Router.layerDisabled
  // One embedder serves L1b and the L2 classifier: a prompt's vector is computed once.
  const embedder = semantic ? Embedder.layer(semantic.embedder) : Embedder.layerNone
  // In Redis with the caches, so that any replica continues any conversation.
  const responseStore = redis
    ? ResponseStore.layerStore(
      makeRedisResponseStore(redis.commands, config.response_store_max_bytes, config.response_store_ttl_secs * 1000)
    )
    : ResponseStore.layerMemory
  return Layer.mergeAll(Pipeline.layer, Embeddings.layer, ResponsesPassThrough.layer, CacheAdmin.layer, responseStore)
    .pipe(
      Layer.provideMerge(Upstream.layer),
      Layer.provideMerge(CacheWrites.layer),
      Layer.provideMerge(Layer.mergeAll(exact, semanticCache, router, Provider.layer, Coalescer.layer)),
      // With Redis beside the caches, one budget for every replica.
      Layer.provideMerge(Budgets.layerConfig(config, redis?.commands)),
      Layer.provideMerge(embedder),
      Layer.provideMerge(CacheKey.layer),
      Layer.provideMerge(AppConfig.layer(config))
    )
}

/**
 * The whole gateway as one Layer: the configuration is read and checked, the runtime's resources (embedding worker,
 * Redis client, embedded engine) are acquired with their release, and the services are built on them. Closing
 * the layer's scope — stopping the gateway, or a start that fails half-way — releases all of it in reverse.
 */
export const gatewayFromSources = (
  sources: ConfigSources,
  options: GatewayOptions = {},
  logging?: { format: LogFormat; least: number }
) =>
  Layer.unwrap(Effect.gen(function*() {
    const loaded = yield* loadConfig(sources)
    const config = loaded.config
    // The config file may set them too: from here on, lines follow the loaded configuration.
    if (logging) Object.assign(logging, { format: config.log_format, least: LEVELS[config.log_level] })
    options.log?.useFormat?.(config.log_format)
    // Export starts first: the start-up warnings that follow reach the collector too.
    return servicesFrom(loaded, options).pipe(
      Layer.provideMerge(telemetryLayer(config, options, options.log ?? console)),
      Layer.provideMerge(options.clock ? Layer.succeed(Clock.Clock, options.clock) : Layer.empty)
    )
  }))

/** The runtime's resources and the services built on them, for a loaded configuration. */
const servicesFrom = (loaded: LoadedConfig, options: GatewayOptions) =>
  Layer.unwrap(Effect.gen(function*() {
    const config = loaded.config
    const warnings = [...loaded.warnings, ...yield* Provider.check(config)]
    for (const warning of warnings) yield* Effect.logWarning(warning)
    const semantic = yield* acquireSemantic(config, options)
    const redis = config.cache_backend === "redis" ? yield* acquireRedis(config, options) : undefined
    const embedded = routerEnabled(config) && config.layer2.inference_engine === "embedded"
      ? yield* acquireEmbedded(config, options)
      : undefined
    const report = Layer.succeed(ConfigReport, { file: loaded.file, setBy: loaded.setBy, warnings })
    return Layer.mergeAll(
      gatewayLayer(config, semantic, redis, embedded),
      yield* usageLedger(config, options, redis),
      report
    )
  }))
