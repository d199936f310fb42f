import { Clock, Context, Effect, type Layer, References } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { CacheAdmin } from "../cache/CacheAdmin.ts"
import { CacheKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { AppConfig, ConfigReport } from "../config/Config.ts"
import { makeApp } from "../http/app.ts"
import type { namedGatewayKeys } from "../http/gatewayKeys.ts"
import { observeEdge } from "../http/observability.ts"
import { TelemetryDropped } from "../observability/Telemetry.ts"
import { CacheWrites } from "../pipeline/CacheWrites.ts"
import { Embeddings } from "../pipeline/Embeddings.ts"
import { Pipeline } from "../pipeline/Pipeline.ts"
import { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import { Provider } from "../providers/Provider.ts"
import { ResponseStore } from "../responses/ResponseStore.ts"
import { UsageLedger } from "../usage/UsageLedger.ts"
import { VERSION } from "../version.ts"
import type { gatewayFromSources } from "./layers.ts"
import { type logSettings, requestLog } from "./logging.ts"
import type { GatewayOptions } from "./options.ts"
import { usageRecorder } from "./usage.ts"

/** What the edge is told by the gateway around it: whether it drains, when it stops, and its named keys. */
export interface EdgeControl {
  readonly draining: () => boolean
  readonly stopping: AbortSignal
  readonly gatewayKeys: Awaited<ReturnType<typeof namedGatewayKeys>>
}

/** The built services of a running gateway. */
export type GatewayContext = Context.Context<Layer.Success<ReturnType<typeof gatewayFromSources>>>

/** The Hono app on the built services, inside the edge that counts, traces, logs and ledgers each request. */
export const serveEdge = (
  context: GatewayContext,
  options: GatewayOptions,
  logging: ReturnType<typeof logSettings>,
  control: EdgeControl
) => {
  const log = options.log ?? console
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
    draining: control.draining,
    stopping: control.stopping,
    hashSecret: Context.get(context, CacheKey).hashSecret,
    countTokens: Context.get(context, Provider).countTokens,
    run: (effect) => run(effect),
    version: VERSION,
    now,
    exactCache: Context.get(context, ExactCache),
    metrics: context,
    shareResponseHeaders: options.shareResponseHeaders === true,
    parseInPieces: options.parseInPieces !== false,
    exactHitLane: options.exactHitLane !== false,
    gatewayKeys: control.gatewayKeys,
    usage: Context.get(context, UsageLedger),
    configReport: Context.get(context, ConfigReport),
    runtime: runtimeName
  })
  const pipeline = Context.get(context, Pipeline)
  return observeEdge(app.fetch, {
    config,
    context,
    tracing: Context.get(context, References.TracerEnabled),
    status: () => run(pipeline.status).then((exit) => (exit._tag === "Success" ? exit.value : undefined)),
    version: VERSION,
    runtime: runtimeName,
    dropped: Context.get(context, TelemetryDropped),
    gatewayKeys: control.gatewayKeys,
    ...(requestLog(log, logging) ? { logRequest: requestLog(log, logging)! } : {}),
    ...(config.usage_ledger ? { recordUsage: usageRecorder(Context.get(context, UsageLedger), now) } : {})
  })
}
