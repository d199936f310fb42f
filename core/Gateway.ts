import { Context, Layer, ManagedRuntime, Metric } from "effect"
import { AppConfig, type ConfigSources } from "./config/Config.ts"
import { messageOf } from "./domain/errors.ts"
import { serveEdge } from "./gateway/edge.ts"
import { gatewayFromSources } from "./gateway/layers.ts"
import { logSettings, logTo } from "./gateway/logging.ts"
import { type Gateway, type GatewayOptions, GatewayStartError } from "./gateway/options.ts"
import { namedGatewayKeys } from "./http/gatewayKeys.ts"
import { UpstreamFetch } from "./transport/http.ts"
import { UsageLedger } from "./usage/UsageLedger.ts"

// The composition root's parts live in core/gateway/; what runtimes, commands and tests import stays importable here.
export { redactUrl } from "./config/effectiveSettings.ts"
export { gatewayFromSources, gatewayLayer } from "./gateway/layers.ts"
export { type GatewayLog, jsonLogLine, type LogFormat } from "./gateway/logging.ts"
export {
  type EmbeddingChoice,
  type Gateway,
  type GatewayOptions,
  GatewayStartError,
  type RedisConnection,
  type SemanticBackends
} from "./gateway/options.ts"

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
  const edge = serveEdge(context, options, logging, {
    draining: () => draining,
    stopping: stopping.signal,
    gatewayKeys
  })
  const config = Context.get(context, AppConfig)
  const separator = config.host_port.lastIndexOf(":")
  return {
    fetch: edge.fetch,
    passThrough: edge.passThrough,
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

/** The message of a failed start: a typed failure's own message, else what went wrong. */
const startFailure = (error: unknown): string => {
  const tagged = error as { readonly _tag?: string; readonly message?: string }
  if ((tagged._tag === "StartFailed" || tagged._tag === "ConfigInvalid") && tagged.message) return tagged.message
  return `cannot start: ${messageOf(error)}`
}
