import { Effect } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { redactUrl } from "../config/effectiveSettings.ts"
import { messageOf, StartFailed } from "../domain/errors.ts"
import type { EmbeddingBackend } from "../embedding/Embedder.ts"
import { routerEnabled } from "../router/Router.ts"
import type { GatewayOptions, RedisConnection } from "./options.ts"

export interface LoadedSemantic {
  readonly embedder: EmbeddingBackend
  readonly hnswlib: HnswlibModule
}

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
export const acquire = <A>(what: string, load: () => Promise<A>, release: (resource: A) => Promise<void> | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: load,
      catch: (error) => new StartFailed({ message: what === "" ? messageOf(error) : `${what}: ${messageOf(error)}` })
    }),
    (resource) => Effect.promise(() => release(resource) ?? Promise.resolve())
  )

/** The embedding model (on its worker) and the vector library, when L1b or the embedding classifier needs them. */
export const acquireSemantic = (config: AppConfigShape, options: GatewayOptions) =>
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

export const acquireRedis = (config: AppConfigShape, options: GatewayOptions) =>
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
export const acquireEmbedded = (config: AppConfigShape, options: GatewayOptions) =>
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
