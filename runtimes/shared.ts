import { readFile } from "node:fs/promises"
import { join } from "node:path"
import {
  type Gateway,
  type GatewayOptions,
  GatewayStartError,
  type RedisConnection,
  type SemanticBackends
} from "../core/Gateway.ts"
import { loadEmbeddedEngine } from "./embedded/llama.ts"
import { loadHnswlib } from "./embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "./embedding/inWorker.ts"
import { modelCache } from "./embedding/transformers.ts"
import { loadUseLiteFastOnly } from "./embedding/useLiteStatic.ts"
import { gatewayLog, logError, logFormatFromEnv, logUnexpected, writeLine } from "./log.ts"
import { freePortAfter } from "./ports.ts"
import { otlpExporter } from "./telemetry.ts"

/** Reads a config file for the loader: `undefined` when it does not exist (node:fs works on all three runtimes). */
export const readTextFile = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? undefined : Promise.reject(error)
  )

/**
 * The Redis client, imported only when a Redis backend is configured (as OTLP export is): node-redis loaded for
 * nothing still costs every garbage collection: a bare Hono server that merely imports it has a slower p99 under
 * load.
 */
export const connectRedisWhenUsed = (url: string): Promise<RedisConnection> =>
  import("./redis.ts").then(({ connectRedis }) => connectRedis(url))

/**
 * What every entry point hands the gateway: Redis, the embedded L2 engine, OTLP export, L1b's model and index and
 * the usage ledger's SQLite file, each loaded only when the configuration asks for it. `workerEntry`: see
 * `semanticBackends`.
 */
export const gatewayServices = (
  env: Record<string, string | undefined>,
  workerEntry?: URL
): Pick<GatewayOptions, "redis" | "embedded" | "telemetry" | "semantic" | "log" | "usageStore"> => {
  logFormatFromEnv(env)
  return {
    redis: connectRedisWhenUsed,
    embedded: loadEmbeddedEngine,
    telemetry: otlpExporter(env),
    semantic: semanticBackends(env, workerEntry),
    log: gatewayLog,
    usageStore: (path) => import("./usage/sqliteStore.ts").then(({ openUsageStore }) => openUsageStore(path, env))
  }
}

/** A start-up failure is one clear message and exit code 1; anything else keeps its stack. */
export const exitOnStartError = (error: unknown): never => {
  if (error instanceof GatewayStartError) logError(error.message)
  else logUnexpected(error)
  process.exit(1)
}

/**
 * A server that cannot listen ends start-up with one line: a taken port names itself and the variable that moves
 * it (to a port checked free on the same host), instead of a stack trace. The gateway is released first, so its
 * worker does not keep the process alive.
 */
export const exitOnListenError = async (error: unknown, gateway: Gateway): Promise<never> => {
  const { code, name } = error as { readonly code?: string; readonly name?: string }
  const host = gateway.hostname.includes(":") ? `[${gateway.hostname}]` : gateway.hostname
  if (code === "EADDRINUSE" || name === "AddrInUse") {
    const next = await freePortAfter(gateway.hostname, gateway.port)
    logError(
      `port ${gateway.port} is already in use (${host}:${gateway.port}); stop the process holding it, or choose another port: ISARTOR__HOST_PORT=${host}:${
        next === undefined ? "<port>" : `${next} (free now)`
      }`
    )
  } else if (code === "EACCES" || name === "PermissionDenied") {
    logError(
      `not allowed to listen on port ${gateway.port} (ports below 1024 need privileges); choose another port: ISARTOR__HOST_PORT=${host}:8080`
    )
  } else logUnexpected(error)
  await gateway.dispose().catch(() => undefined)
  process.exit(1)
}

/**
 * How every runtime stops. SIGTERM (an orchestrator's, a rolling restart's, `isartor stop`'s) first drains: `/healthz`
 * answers 503 for `shutdown_drain_secs` while every other route still serves, so a load balancer health-checking it
 * takes this replica out before it stops accepting. Ctrl-C (SIGINT) skips that wait. Then the server stops accepting,
 * the requests in flight finish, and the gateway's layers are released.
 */
export const stopGracefully = async (gateway: Gateway, signal: string, closeServer: () => Promise<unknown>) => {
  gateway.drain()
  if (signal === "SIGTERM" && gateway.config.shutdown_drain_secs > 0) {
    await new Promise((resolve) => setTimeout(resolve, gateway.config.shutdown_drain_secs * 1000))
  }
  await closeServer()
  await gateway.dispose()
}

export const listening = (hostname: string, port: number, runtime: string) =>
  writeLine(
    "info",
    `isartor listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port} (${runtime})`
  )

/**
 * L1b's model (on a worker thread) and vector library, from the installed packages. Bun and Deno run the
 * TypeScript worker as it is; Node needs the small bootstrap that registers tsx first.
 */
export const semanticBackends = (env: Record<string, string | undefined>, workerEntry?: URL): SemanticBackends => ({
  // The cache variables are not ISARTOR__ settings: they are read here, where the environment is.
  loadEmbedder: (choice) =>
    // USE-lite's fast stage alone when nothing needs the model: loaded in milliseconds, no worker thread.
    choice.fastOnly && choice.model === "use-lite" && choice.modelPath === ""
      ? loadUseLiteFastOnly()
      : loadEmbedderInWorker(workerEntry, { ...choice, ...modelCache(env) }),
  loadHnswlib
})
