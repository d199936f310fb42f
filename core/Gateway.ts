import { Clock, Context, Effect, Layer, Logger, ManagedRuntime, Metric, References } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import { Budgets } from "./budgets/Budgets.ts"
import { CacheAdmin } from "./cache/CacheAdmin.ts"
import { CacheKey } from "./cache/CacheKey.ts"
import { ExactCache } from "./cache/exact/ExactCache.ts"
import { makeRedisExactStore } from "./cache/exact/RedisExactStore.ts"
import { SemanticCache } from "./cache/semantic/SemanticCache.ts"
import { semanticCacheLayer } from "./cache/semantic/semanticLayer.ts"
import { AppConfig, ConfigReport, type ConfigSources, loadConfig, type LoadedConfig } from "./config/Config.ts"
import type { AppConfigShape } from "./config/ConfigSpec.ts"
import { redactUrl, secretValues } from "./config/effectiveSettings.ts"
import { maskCredentials } from "./domain/credentials.ts"
import { messageOf, StartFailed } from "./domain/errors.ts"
import { Embedder, type EmbeddingBackend } from "./embedding/Embedder.ts"
import { makeApp } from "./http/app.ts"
import { namedGatewayKeys } from "./http/gatewayKeys.ts"
import { observeEdge, type RequestRecord } from "./http/observability.ts"
import { logText, TelemetryDropped, type TelemetryExport, type TelemetryExporter } from "./observability/Telemetry.ts"
import { CacheWrites } from "./pipeline/CacheWrites.ts"
import { Coalescer } from "./pipeline/Coalescer.ts"
import { Embeddings } from "./pipeline/Embeddings.ts"
import { Pipeline } from "./pipeline/Pipeline.ts"
import { ResponsesPassThrough } from "./pipeline/ResponsesPassThrough.ts"
import { Upstream } from "./pipeline/Upstream.ts"
import { Provider } from "./providers/Provider.ts"
import type { RedisCommands } from "./redis/RedisCommands.ts"
import { makeRedisResponseStore } from "./responses/RedisResponseStore.ts"
import { ResponseStore } from "./responses/ResponseStore.ts"
import { Classifier } from "./router/Classifier.ts"
import { type EmbeddedEngine, LocalModel } from "./router/LocalModel.ts"
import { Router, routerEnabled } from "./router/Router.ts"
import { UpstreamFetch, type UpstreamFetchFunction } from "./transport/http.ts"
import { ledgerDisabled, ledgerLayer } from "./usage/ledger.ts"
import { pricesOf } from "./usage/prices.ts"
import { makeUsageRow } from "./usage/recorder.ts"
import { makeRedisUsageStore } from "./usage/redisStore.ts"
import { UsageLedger } from "./usage/UsageLedger.ts"
import { makeMemoryStore, type UsageStore } from "./usage/UsageStore.ts"
import { VERSION } from "./version.ts"

/** What the runtime provides for L1b: the embedding model and the vector library, both loaded from disk. */
export interface EmbeddingChoice {
  readonly model: string
  readonly modelPath: string
  /**
   * Only USE-lite's fast stage is needed — L1b's learned decision and no embedding classifier — so the model itself
   * need not load (no worker thread, no model memory). Ignored for other models.
   */
  readonly fastOnly?: boolean
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
  /** Builds the OTLP exporter when `enable_monitoring` is on; without it the gateway says monitoring is unavailable. */
  readonly telemetry?: TelemetryExporter
  /** Which runtime serves, for `isartor_build_info{runtime}`, e.g. "node v20.20.2". */
  readonly runtime?: string
  /** How the providers call upstream, when the runtime has a faster way than its global `fetch` (Node: undici). */
  readonly upstreamFetch?: UpstreamFetchFunction
  /**
   * Exact hits sent with one `Headers` per answer and age, for a runtime whose `Response` copies a `Headers` faster
   * than it reads a plain object (Bun, Deno). Taken only where a `Response` copies the headers it is given.
   */
  readonly shareResponseHeaders?: boolean
  /**
   * Exact hits of bodies seen before answered in front of the Hono app (core/http/exactHitLane.ts); on unless
   * `false`, which sends every request through Hono and the pipeline (the property test compares the two).
   */
  readonly exactHitLane?: boolean
  /**
   * Opens the usage ledger's persistent store at `usage_path` ("" is the runtime's default place); without it, the
   * ledger is kept in memory. Not used with `cache_backend = redis`, where the ledger is in Redis.
   */
  readonly usageStore?: (path: string) => Promise<UsageStore>
  /**
   * The clock the caches stamp, age and expire entries by (and every effect of the gateway reads); Effect's own
   * unless given. A test gives one it moves, to see a TTL end without waiting for it.
   */
  readonly clock?: Clock.Clock
}

export interface GatewayLog {
  readonly info: (line: string) => void
  readonly warn: (line: string) => void
  /** Told the format the configuration chose, so the runtime's own lines (listening, errors) follow it too. */
  readonly useFormat?: (format: LogFormat) => void
}

export interface Gateway {
  readonly fetch: (request: Request) => Response | Promise<Response>
  readonly config: AppConfigShape
  readonly hostname: string
  readonly port: number
  /** With `metrics_port` set: `/metrics` alone, to be served on that port of the gateway's host. */
  readonly metrics?: { readonly fetch: (request: Request) => Promise<Response>; readonly port: number }
  /** The usage ledger: what `/admin/usage` and `isartor stats` read. */
  readonly usage: UsageLedger["Service"]
  /** From now on `/healthz` answers 503, so a load balancer stops sending requests; everything else still serves. */
  readonly drain: () => void
  readonly dispose: () => Promise<void>
}

/** Start-up failed: the message says which setting and what form it needs. */
export class GatewayStartError extends Error {
  override readonly name = "GatewayStartError"
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

export type LogFormat = "text" | "json"

const SEVERITY = { Trace: 0, Debug: 0, Info: 1, Warn: 2, Error: 3, Fatal: 3, All: 0, None: 4 } as const
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const

/** A log line as JSON (`time`, `level`, `msg`, then any fields): the one shape of every JSON line the gateway writes. */
export const jsonLogLine = (level: string, msg: string, fields: object = {}, time = new Date()) =>
  JSON.stringify({ time: time.toISOString(), level, msg, ...fields })

/** The log level and format settings, read from the environment before the rest of the configuration. */
const logSettings = (env: ConfigSources["env"]): { format: LogFormat; least: number } => ({
  format: env.ISARTOR__LOG_FORMAT === "json" ? "json" : "text",
  least: LEVELS[env.ISARTOR__LOG_LEVEL as keyof typeof LEVELS] ?? LEVELS.info
})

/**
 * Effect's log lines (a dropped cache write, an unreadable Redis value) go to the gateway's log, one line each:
 * text, or one JSON object a line (`time`, `level`, `msg`) for a log shipper.
 */
const logTo = (log: GatewayLog, settings: ReturnType<typeof logSettings>) =>
  Logger.layer([
    Logger.make(({ date, logLevel, message }) => {
      if (SEVERITY[logLevel] < settings.least) return
      const text = logText(message)
      const warning = SEVERITY[logLevel] >= LEVELS.warn
      if (settings.format === "json") {
        const line = jsonLogLine(logLevel.toLowerCase(), text, {}, date)
        return warning ? log.warn(line) : log.info(line)
      }
      if (warning) log.warn(`isartor: warning: ${text}`)
      else log.info(`isartor: ${text}`)
    })
  ])

/** One line per request: always as JSON, as text only at `log_level = debug`. */
const requestLog = (log: GatewayLog, settings: ReturnType<typeof logSettings>) => {
  if (settings.format === "json") {
    return settings.least <= LEVELS.info
      ? (record: RequestRecord) => log.info(jsonLogLine("info", "request", record))
      : undefined
  }
  return settings.least <= LEVELS.debug
    ? (record: RequestRecord) =>
      log.info(
        `isartor: ${record.method} ${record.route} ${record.status} ${
          record.final_layer ?? "-"
        } ${record.duration_ms} ms${record.provider ? ` ${record.provider}` : ""}${
          record.trace_id ? ` trace ${record.trace_id}` : ""
        }`
      )
    : undefined
}

/**
 * OTLP export, when `enable_monitoring` is on and the runtime can export; one start-up line says which, and where.
 * Without it, spans are turned off altogether: even an unexported span costs an exact hit a measurable share.
 */
const telemetryLayer = (config: AppConfigShape, options: GatewayOptions, log: GatewayLog) =>
  Layer.unwrap(Effect.gen(function*() {
    if (!config.enable_monitoring) {
      yield* Effect.logInfo(
        "OpenTelemetry export off (ISARTOR__ENABLE_MONITORING=true turns it on); Prometheus metrics at GET /metrics"
      )
      return Layer.succeed(References.TracerEnabled, false)
    }
    if (!options.telemetry) {
      yield* Effect.logWarning("ISARTOR__ENABLE_MONITORING=true, but this runtime cannot export OpenTelemetry")
      return Layer.succeed(References.TracerEnabled, false)
    }
    const exported: TelemetryExport = options.telemetry({
      endpoint: config.otel_exporter_endpoint,
      protocol: config.otel_exporter_protocol,
      version: VERSION,
      logs: (level) => SEVERITY[level] >= LEVELS[config.log_level],
      warn: (line) => log.warn(config.log_format === "json" ? jsonLogLine("warn", line) : `isartor: warning: ${line}`)
    })
    // Said once the exporter is in place, so that the collector has the line too.
    return Layer.merge(exported.layer, Layer.succeed(TelemetryDropped, exported.dropped)).pipe(
      Layer.tap((context) =>
        Effect.logInfo(`OpenTelemetry export on: ${exported.description}; Prometheus metrics at GET /metrics`).pipe(
          Effect.provideContext(context)
        )
      )
    )
  }))

export { redactUrl }

/** Stands in for Redis when ISARTOR__REDIS_URL cannot be used: every command fails, so the caches fall through. */
const unusableRedis = (reason: string): RedisConnection => {
  const fail = () => Promise.reject(new Error(reason))
  return {
    commands: {
      get: fail,
      setWithTtl: fail,
      exists: fail,
      countKeys: fail,
      del: fail,
      entries: fail,
      publish: fail,
      evalScript: fail,
      subscribe: () => () => undefined
    },
    close: async () => undefined
  }
}

/** A resource of the runtime's, held for the gateway's lifetime: released when it stops or when a later start step fails. */
const acquire = <A>(what: string, load: () => Promise<A>, release: (resource: A) => Promise<void> | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: load,
      catch: (error) => new StartFailed({ message: what === "" ? messageOf(error) : `${what}: ${messageOf(error)}` })
    }),
    (resource) => Effect.promise(() => release(resource) ?? Promise.resolve())
  )

/** The embedding model (on its worker) and the vector library, when L1b or the embedding classifier needs them. */
const acquireSemantic = (config: AppConfigShape, options: GatewayOptions) =>
  Effect.gen(function*() {
    const classifiesByEmbedding = routerEnabled(config) && config.layer2.classifier === "embedding"
    if (classifiesByEmbedding && !options.semantic) {
      return yield* new StartFailed({
        message: "ISARTOR__LAYER2__CLASSIFIER=embedding needs the embedding model, and this runtime provides none"
      })
    }
    const backends = options.semantic
    if (!backends || (config.cache_mode === "exact" && !classifiesByEmbedding)) return undefined
    // The model loads and warms up before the gateway serves: the first request pays nothing for it.
    const embedder = yield* acquire(
      "cannot load the embedding model",
      () =>
        backends.loadEmbedder({
          model: config.embedding_model,
          modelPath: config.embedding_model_path,
          fastOnly: !classifiesByEmbedding && config.l1b_decision === "learned"
        }),
      (loaded) => loaded.dispose?.()
    )
    const hnswlib = yield* acquire("cannot load the embedding model", backends.loadHnswlib, () => undefined)
    return { embedder, hnswlib }
  })

const acquireRedis = (config: AppConfigShape, options: GatewayOptions) =>
  Effect.gen(function*() {
    const connect = options.redis
    if (!connect) {
      return yield* new StartFailed({
        message: "cache_backend = redis needs a Redis client, and this runtime provides none"
      })
    }
    // One server, or comma-separated seed nodes of a Redis Cluster.
    const seeds = config.redis_url.split(",").map((seed) => seed.trim())
    const protocols = seeds.map((seed) => URL.canParse(seed) ? new URL(seed).protocol : undefined)
    if (!protocols.every((protocol) => protocol === "redis:" || protocol === "rediss:")) {
      yield* Effect.logWarning(
        "ISARTOR__REDIS_URL is not a redis:// or rediss:// URL; the caches fall through until it is fixed"
      )
      return unusableRedis("ISARTOR__REDIS_URL is malformed")
    }
    const open = () => connect(config.redis_url)
    const connection = yield* acquire("cannot connect to Redis", open, (redis) => redis.close())
    // Redis down at start-up is not fatal: the caches fall through until it comes back.
    const problem = yield* Effect.promise(() =>
      connection.commands.get("isartor:ping").then(() => undefined, (error: unknown) => messageOf(error))
    )
    if (problem !== undefined) {
      // A refused password is not an outage: it lasts until the URL is fixed.
      const refused = /^(WRONGPASS|NOAUTH)\b/.test(problem)
      yield* Effect.logWarning(
        `Redis at ${redactUrl(config.redis_url)} ${
          refused
            ? `refused authentication (${problem}); set the right password in ISARTOR__REDIS_URL (redis://user:password@host:6379); the caches fall through until Redis accepts it`
            : "is unreachable; the caches fall through until it answers"
        }`
      )
    }
    return connection
  })

/**
 * The embedded L2 engine, or — when the model path is unset, the package missing or the file unusable — one warning
 * saying what to install or set, and the reason, with which L2 falls through to L3.
 */
const acquireEmbedded = (config: AppConfigShape, options: GatewayOptions) =>
  Effect.gen(function*() {
    const problem = (reason: string) =>
      Effect.as(
        Effect.logWarning(`embedded L2 engine unavailable: ${reason}; L2 falls through to L3 until it is fixed`),
        reason
      )
    if (config.embedded.model_path === "") {
      return yield* problem("set ISARTOR__EMBEDDED__MODEL_PATH to a GGUF model file")
    }
    const load = options.embedded
    if (!load) return yield* problem("this runtime cannot load an embedded engine")
    return yield* acquire("", () => load(config.embedded.model_path), (engine) => engine.dispose?.()).pipe(
      Effect.tap((engine) => Effect.logInfo(`embedded L2 engine ready (${engine.name})`)),
      Effect.catchTag("StartFailed", (failed) => problem(failed.message))
    )
  })

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

/** The usage ledger over its store: Redis with the caches, else the runtime's persistent one, else memory. */
const usageLedger = (config: AppConfigShape, options: GatewayOptions, redis: RedisConnection | undefined) =>
  Effect.gen(function*() {
    if (!config.usage_ledger) return ledgerDisabled
    const retentionMs = config.usage_retention_days * 24 * 3_600_000
    const open = options.usageStore
    // With Redis, one ledger for every replica.
    const store = redis !== undefined
      ? makeRedisUsageStore(redis.commands, retentionMs)
      : open === undefined
      ? makeMemoryStore()
      : yield* acquire("cannot open the usage ledger", () => open(config.usage_path), (store) => store.close?.())
    const prices = pricesOf(config)
    return ledgerLayer({
      store,
      retentionMs,
      priced: (provider, model) => prices(provider, model) !== undefined
    })
  })

/** Loads the configuration, checks it, builds every layer, and returns a `fetch` handler ready to serve. */
export const startGateway = async (sources: ConfigSources, options: GatewayOptions = {}): Promise<Gateway> => {
  const log = options.log ?? console
  const logging = logSettings(sources.env)
  const runtime = ManagedRuntime.make(
    gatewayFromSources(sources, options, logging).pipe(
      // Each gateway its own metrics: two in one process (tests) never add up each other's requests.
      Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
      Layer.provideMerge(options.upstreamFetch ? Layer.succeed(UpstreamFetch, options.upstreamFetch) : Layer.empty),
      Layer.provideMerge(logTo(log, logging))
    )
  )
  const context = await runtime.context().catch(async (error: unknown) => {
    await runtime.dispose()
    throw new GatewayStartError(startFailure(error))
  })
  let draining = false
  // Live streams (`/admin/events`) end when the gateway starts to stop: else a server waiting for its requests to
  // finish would wait for them for ever.
  const stopping = new AbortController()
  const gatewayKeys = await namedGatewayKeys(Context.get(context, AppConfig).gateway_keys, sources.env).catch(
    async (error: unknown) => {
      await runtime.dispose()
      throw new GatewayStartError(messageOf(error))
    }
  )
  // Requests run straight on the built context: no per-request wait on the runtime's start-up promise.
  const run = Effect.runPromiseExitWith(context)
  const config = Context.get(context, AppConfig)
  // One clock for the edge too (Age headers, the ledger's rows, the overview): the one every effect reads.
  const clock = Context.get(context, Clock.Clock)
  const now = () => clock.currentTimeMillisUnsafe()
  const runtimeName = options.runtime ?? "in-process"
  const app = makeApp({
    config,
    pipeline: Context.get(context, Pipeline),
    embeddings: Context.get(context, Embeddings),
    budgets: Context.get(context, Budgets),
    cacheAdmin: Context.get(context, CacheAdmin),
    cacheWrites: Context.get(context, CacheWrites),
    responsesPassThrough: Context.get(context, ResponsesPassThrough),
    responseStore: Context.get(context, ResponseStore),
    draining: () => draining,
    stopping: stopping.signal,
    hashSecret: Context.get(context, CacheKey).hashSecret,
    countTokens: Context.get(context, Provider).countTokens,
    run: (effect) => run(effect),
    version: VERSION,
    now,
    exactCache: Context.get(context, ExactCache),
    metrics: context as Context.Context<never>,
    shareResponseHeaders: options.shareResponseHeaders === true,
    exactHitLane: options.exactHitLane !== false,
    gatewayKeys,
    usage: Context.get(context, UsageLedger),
    configReport: Context.get(context, ConfigReport),
    runtime: runtimeName
  })
  const pipeline = Context.get(context, Pipeline)
  const edge = observeEdge(app.fetch, {
    config,
    context: context as Context.Context<never>,
    tracing: Context.get(context, References.TracerEnabled),
    status: () => run(pipeline.status).then((exit) => (exit._tag === "Success" ? exit.value : undefined)),
    version: VERSION,
    runtime: runtimeName,
    dropped: Context.get(context, TelemetryDropped),
    gatewayKeys,
    ...(requestLog(log, logging) ? { logRequest: requestLog(log, logging)! } : {}),
    ...(config.usage_ledger ? { recordUsage: usageRecorder(config, Context.get(context, UsageLedger), now) } : {})
  })
  const separator = config.host_port.lastIndexOf(":")
  return {
    fetch: edge.fetch,
    config,
    hostname: config.host_port.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(config.host_port.slice(separator + 1)),
    ...(config.metrics_port !== 0 ? { metrics: { fetch: edge.metricsOnly, port: config.metrics_port } } : {}),
    usage: Context.get(context, UsageLedger),
    drain: () => {
      draining = true
      stopping.abort()
    },
    dispose: () => {
      stopping.abort()
      return runtime.dispose()
    }
  }
}

/** Each answered request, priced, as one row of the ledger; a kept question and answer with credentials masked. */
const usageRecorder = (config: AppConfigShape, ledger: UsageLedger["Service"], now: () => number) => {
  const secrets = secretValues(config)
  const rowOf = makeUsageRow({ prices: pricesOf(config), now, mask: (text) => maskCredentials(text, secrets) })
  return (...answered: Parameters<typeof rowOf>) => ledger.record(rowOf(...answered))
}

/** The message of a failed start: a typed failure's own message, else what went wrong. */
const startFailure = (error: unknown): string => {
  const tagged = error as { readonly _tag?: string; readonly message?: string }
  if ((tagged._tag === "StartFailed" || tagged._tag === "ConfigInvalid") && tagged.message) return tagged.message
  return `cannot start: ${messageOf(error)}`
}
