import { Cause, Context, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { CacheKey } from "./CacheKey.ts"
import { Coalescer } from "./Coalescer.ts"
import { AppConfig, type ConfigSources, loadConfig } from "./Config.ts"
import type { AppConfigShape } from "./ConfigSpec.ts"
import { ExactCache } from "./ExactCache.ts"
import { makeApp } from "./http/app.ts"
import { Pipeline } from "./Pipeline.ts"
import { Provider } from "./Provider.ts"
import { VERSION } from "./version.ts"

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

/** The layers of a running gateway, wired: the single composition root every runtime and test starts from. */
export const gatewayLayer = (config: AppConfigShape) =>
  Layer.mergeAll(Pipeline.layer, CacheKey.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(ExactCache.layerMemory, Provider.layer, CacheKey.layer, Coalescer.layer)),
    Layer.provide(AppConfig.layer(config))
  )

/** Loads the configuration, checks it, builds every layer, and returns a `fetch` handler ready to serve. */
export const startGateway = async (sources: ConfigSources, log: GatewayLog = console): Promise<Gateway> => {
  const loaded = await unwrap(loadConfig(sources))
  const config = loaded.config
  const warnings = [...loaded.warnings, ...await unwrap(Provider.check(config))]
  for (const warning of warnings) log.warn(`isartor: warning: ${warning}`)

  const runtime = ManagedRuntime.make(gatewayLayer(config))
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
    dispose: () => runtime.dispose()
  }
}
