import { Cause, Context, Effect, Exit, Layer, Logger, ManagedRuntime } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import { CacheKey } from "./CacheKey.ts"
import { CacheWrites } from "./CacheWrites.ts"
import { Coalescer } from "./Coalescer.ts"
import { AppConfig, type ConfigSources, loadConfig } from "./Config.ts"
import type { AppConfigShape } from "./ConfigSpec.ts"
import { ExactCache } from "./ExactCache.ts"
import { FastVectorIndex } from "./FastVectorIndex.ts"
import type { RedisCommands } from "./stores/RedisCommands.ts"
import { makeRedisExactStore } from "./stores/RedisExactStore.ts"
import { SharedSemanticStore } from "./stores/RedisSemanticStore.ts"
import { makeApp } from "./http/app.ts"
import { Pipeline } from "./Pipeline.ts"
import { Provider } from "./Provider.ts"
import { Classifier } from "./Classifier.ts"
import { type EmbeddedEngine, LocalModel } from "./LocalModel.ts"
import { Router, routerEnabled } from "./Router.ts"
import { Embedder, type EmbeddingBackend } from "./Embedder.ts"
import { SemanticCache } from "./SemanticCache.ts"
import { VectorIndex } from "./VectorIndex.ts"
import { VERSION } from "./version.ts"

/** What the runtime provides for L1b: the embedding model and the vector library, both loaded from disk. */
export interface EmbeddingChoice {
  readonly model: string
  readonly modelPath: string
}

export interface SemanticBackends {
  /** Loads the sentence encoder `embedding_model` names (from `embedding_model_path` when set). */
  readonly loadEmbedder: (choice: EmbeddingChoice) => Promise<EmbeddingBackend>
  readonly loadHnswlib: () => Promise<HnswlibModule>
}

/** A Redis client for `cache_backend = redis`, provided by the runtime. */
export interface RedisConnection {
  readonly commands: RedisCommands
  readonly close: () => Promise<void>
}

export interface GatewayOptions {
  readonly log?: GatewayLog
  /** Without them, L1b reports itself unavailable and requests go from L1a straight on. */
  readonly semantic?: SemanticBackends
  /** Required for `cache_backend = redis`. */
  readonly redis?: (url: string) => Promise<RedisConnection>
  /**
   * Loads the embedded L2 engine (node-llama-cpp) for a GGUF file; rejects with a message that says what to install
   * or set when the package or the file is missing.
   */
  readonly embedded?: (modelPath: string) => Promise<EmbeddedEngine>
}

export interface GatewayLog {
  readonly info: (line: string) => void
  readonly warn: (line: string) => void
}

export interface Gateway {
  readonly fetch: (request: Request) => Response | Promise<Response>
  readonly config: AppConfigShape
  readonly hostname: string
  readonly port: number
  readonly dispose: () => Promise<void>
}

/** Start-up failed: the message says which setting and what form it needs. */
export class GatewayStartError extends Error {
  override readonly name = "GatewayStartError"
}

const unwrap = async <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.findErrorOption(exit.cause)
  throw new GatewayStartError(failure._tag === "Some" ? failure.value.message : Cause.pretty(exit.cause))
}

interface LoadedSemantic {
  readonly embedder: EmbeddingBackend
  readonly hnswlib: HnswlibModule
}

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
export const gatewayLayer = (config: AppConfigShape, semantic?: LoadedSemantic, redis?: RedisConnection, embedded?: EmbeddedEngine | string) => {
  // A layer that is turned off is a stand-in that passes every request on, chosen here once.
  const exact = config.cache_mode === "semantic"
    ? ExactCache.layerDisabled
    : redis
    ? Layer.succeed(ExactCache, ExactCache.make(makeRedisExactStore(redis.commands, config.cache_ttl_secs * 1000)))
    : ExactCache.layerMemory
  const semanticCache = config.cache_mode === "exact"
    ? SemanticCache.layerDisabled("disabled", "cache_mode")
    : !semantic
    ? SemanticCache.layerDisabled("unavailable", "no embedder")
    : SemanticCache.layer.pipe(Layer.provide(Layer.mergeAll(
      VectorIndex.layer(semantic.hnswlib, semantic.embedder.dimensions, config.cache_max_capacity),
      // The first stage, for an encoder with a fast distillation (USE-lite), unless turned off.
      semantic.embedder.fast && config.semantic_fast_threshold < 1
        ? FastVectorIndex.layer(semantic.hnswlib, semantic.embedder.dimensions, config.cache_max_capacity)
        : Layer.empty,
      redis ? SharedSemanticStore.layer(redis.commands) : Layer.empty
    )))
  const router = routerEnabled(config) ? routerLayer(config, embedded) : Layer.empty
  // One embedder serves L1b and the L2 classifier: a prompt's vector is computed once.
  const embedder = semantic ? Embedder.layer(semantic.embedder) : Embedder.layerNone
  return Pipeline.layer.pipe(
    Layer.provideMerge(CacheWrites.layer),
    Layer.provideMerge(Layer.mergeAll(exact, semanticCache, router, Provider.layer, Coalescer.layer)),
    Layer.provideMerge(embedder),
    Layer.provideMerge(CacheKey.layer),
    Layer.provide(AppConfig.layer(config))
  )
}

/** Effect's log lines (a dropped cache write, an unreadable Redis value) go to the gateway's log, one line each. */
const logTo = (log: GatewayLog) =>
  Logger.layer([
    Logger.make(({ logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map((part) => typeof part === "string" ? part : String(part)).join(" ")
      if (logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") log.warn(`isartor: warning: ${text}`)
      else log.info(`isartor: ${text}`)
    })
  ])

/** The Redis URL with any password masked, for log lines. */
export const redactUrl = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/g, "//$1:***@")

/** Stands in for Redis when ISARTOR__REDIS_URL cannot be used: every command fails, so the caches fall through. */
const unusableRedis = (reason: string): RedisConnection => {
  const fail = () => Promise.reject(new Error(reason))
  return {
    commands: { get: fail, setWithTtl: fail, exists: fail, countKeys: fail, entries: fail, publish: fail, subscribe: () => undefined },
    close: async () => undefined
  }
}

const connectToRedis = async (config: AppConfigShape, options: GatewayOptions, log: GatewayLog) => {
  if (!options.redis) throw new GatewayStartError("cache_backend = redis needs a Redis client, and this runtime provides none")
  // One server, or comma-separated seed nodes of a Redis Cluster.
  const seeds = config.redis_url.split(",").map((seed) => seed.trim())
  const protocols = seeds.map((seed) => URL.canParse(seed) ? new URL(seed).protocol : undefined)
  if (!protocols.every((protocol) => protocol === "redis:" || protocol === "rediss:")) {
    log.warn(`isartor: warning: ISARTOR__REDIS_URL is not a redis:// or rediss:// URL; the caches fall through until it is fixed`)
    return unusableRedis("ISARTOR__REDIS_URL is malformed")
  }
  const connection = await options.redis(config.redis_url)
  // Redis down at start-up is not fatal: the caches fall through until it comes back.
  const reachable = await connection.commands.get("isartor:ping").then(() => true, () => false)
  if (!reachable) log.warn(`isartor: warning: Redis at ${redactUrl(config.redis_url)} is unreachable; the caches fall through until it answers`)
  return connection
}

/**
 * The embedded L2 engine, or — when the model path is unset, the package missing or the file unusable — one warning
 * saying what to install or set, and the reason, with which L2 falls through to L3.
 */
const loadEmbedded = async (config: AppConfigShape, options: GatewayOptions, log: GatewayLog): Promise<EmbeddedEngine | string> => {
  const fallsThrough = "L2 falls through to L3 until it is fixed"
  const problem = (reason: string) => {
    log.warn(`isartor: warning: embedded L2 engine unavailable: ${reason}; ${fallsThrough}`)
    return reason
  }
  if (config.embedded.model_path === "") return problem("set ISARTOR__EMBEDDED__MODEL_PATH to a GGUF model file")
  if (!options.embedded) return problem("this runtime cannot load an embedded engine")
  return options.embedded(config.embedded.model_path).then(
    (engine) => {
      log.info(`isartor: embedded L2 engine ready (${engine.name})`)
      return engine
    },
    (error: unknown) => problem(error instanceof Error ? error.message : String(error))
  )
}

/** Loads the configuration, checks it, builds every layer, and returns a `fetch` handler ready to serve. */
export const startGateway = async (sources: ConfigSources, options: GatewayOptions = {}): Promise<Gateway> => {
  const log = options.log ?? console
  const loaded = await unwrap(loadConfig(sources))
  const config = loaded.config
  const warnings = [...loaded.warnings, ...await unwrap(Provider.check(config))]
  for (const warning of warnings) log.warn(`isartor: warning: ${warning}`)

  // The model loads and warms up before the gateway serves: the first request pays nothing for it.
  const classifiesByEmbedding = routerEnabled(config) && config.layer2.classifier === "embedding"
  if (classifiesByEmbedding && !options.semantic) {
    throw new GatewayStartError("ISARTOR__LAYER2__CLASSIFIER=embedding needs the embedding model, and this runtime provides none")
  }
  const semantic = options.semantic && (config.cache_mode !== "exact" || classifiesByEmbedding)
    ? await Promise.all([options.semantic.loadEmbedder({ model: config.embedding_model, modelPath: config.embedding_model_path }), options.semantic.loadHnswlib()]).then(
      ([embedder, hnswlib]) => ({ embedder, hnswlib }),
      (error: unknown) => {
        throw new GatewayStartError(`cannot load the embedding model: ${error instanceof Error ? error.message : String(error)}`)
      }
    )
    : undefined
  const redis = config.cache_backend === "redis" ? await connectToRedis(config, options, log) : undefined
  const embedded = routerEnabled(config) && config.layer2.inference_engine === "embedded" ? await loadEmbedded(config, options, log) : undefined
  const runtime = ManagedRuntime.make(gatewayLayer(config, semantic, redis, embedded).pipe(Layer.provideMerge(logTo(log))))
  const context = await runtime.context().catch(async (error: unknown) => {
    await runtime.dispose()
    throw new GatewayStartError(`cannot start: ${error instanceof Error ? error.message : String(error)}`)
  })
  // Requests run straight on the built context: no per-request wait on the runtime's start-up promise.
  const run = Effect.runPromiseExitWith(context)
  const services = { pipeline: Context.get(context, Pipeline), cacheKey: Context.get(context, CacheKey) }
  const app = makeApp({
    config,
    pipeline: services.pipeline,
    hashSecret: services.cacheKey.hashSecret,
    run: (effect) => run(effect),
    version: VERSION,
    now: Date.now
  })
  const separator = config.host_port.lastIndexOf(":")
  return {
    fetch: app.fetch,
    config,
    hostname: config.host_port.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(config.host_port.slice(separator + 1)),
    dispose: async () => {
      await runtime.dispose()
      await semantic?.embedder.dispose?.()
      if (typeof embedded === "object") await embedded.dispose?.()
      await redis?.close()
    }
  }
}
