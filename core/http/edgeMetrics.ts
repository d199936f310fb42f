import { type Context, Metric, Redacted } from "effect"
import { PrometheusMetrics } from "effect/observability"
import type { LayerName } from "../domain/Answer.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import {
  boundSeries,
  buildInfo,
  cacheEntries,
  cacheEvictions,
  httpRequestsTotal,
  initialiseSeries,
  l1bBudgetHits,
  l1bEntriesStopped,
  l1bFalseHitRate,
  layerLabel,
  layerUp,
  requestDuration,
  requestsTotal,
  seriesOf,
  telemetryDropped
} from "../observability/Metrics.ts"
import type { PipelineStatus } from "../pipeline/Pipeline.ts"
import type { EdgeOptions } from "./edgeOptions.ts"
import { gatewayKeyAccepts, presentedGatewayKey } from "./middleware.ts"

const STATUS_REUSE_MS = 10_000
const PIPELINE_ROUTES = [
  "/v1/chat/completions",
  "/v1/messages",
  "/v1/responses",
  "/api/chat",
  "/v1beta/models/{model}:generateContent",
  "/v1beta/models/{model}:streamGenerateContent"
]

/** Series present from the first scrape at 0, so rate() counts the first requests and panels show 0, not No Data. */
const initialise = (options: EdgeOptions) => {
  const { context } = options
  const requests = seriesOf(requestsTotal)
  buildInfo.pipe(Metric.withAttributes({ version: options.version, runtime: options.runtime }))
    .updateUnsafe(1, context)
  for (const endpoint of PIPELINE_ROUTES) {
    for (const layer of Object.values(layerLabel)) {
      requests({ final_layer: layer, endpoint, status: "200" }).valueUnsafe(context)
    }
    for (const status of ["429", "502"]) requests({ final_layer: layerLabel.l3, endpoint, status }).valueUnsafe(context)
  }
  initialiseSeries(context)
}

/** L1b's false-hit budget, as /health shows it: hits by verdict, the rate served and its bound, entries stopped. */
const budgetSampler = (context: Context.Context<never>) => {
  const hits = seriesOf(l1bBudgetHits)
  const rate = seriesOf(l1bFalseHitRate)
  const stopped = seriesOf(l1bEntriesStopped)
  const seen: Record<string, number> = {}
  return (layer: unknown) => {
    const budget = (layer as { readonly budget?: Record<string, unknown> } | undefined)?.budget
    if (budget === undefined || typeof budget.decision !== "string") return
    const decision = budget.decision
    for (const outcome of ["served", "explored", "withheld"] as const) {
      const total = Number(budget[`${outcome}_hits`] ?? 0)
      hits({ decision, outcome }).updateUnsafe(total - (seen[`${decision}/${outcome}`] ?? 0), context)
      seen[`${decision}/${outcome}`] = total
    }
    rate({ decision, bound: "observed" }).updateUnsafe(Number(budget.observed_false_hit_rate ?? 0), context)
    rate({ decision, bound: "upper" }).updateUnsafe(Number(budget.false_hit_rate_upper_bound ?? 1), context)
    stopped({ decision }).updateUnsafe(Number(budget.entries_stopped_serving ?? 0), context)
  }
}

/** Gauges mirror /health at scrape time; counters kept by the caches advance by what they moved since. */
const sampler = (options: EdgeOptions) => {
  const { context } = options
  const entries = seriesOf(cacheEntries)
  const up = seriesOf(layerUp)
  const evictions = seriesOf(cacheEvictions)
  const evictionsSeen: Partial<Record<LayerName, number>> = {}
  let droppedSeen = 0
  const sampleBudget = budgetSampler(context)
  // /health's status counts Redis keys with SCAN and probes the sidecar: a scrape every few seconds reuses it.
  let lastStatus: { readonly at: number; readonly status: Promise<PipelineStatus | undefined> } | undefined
  const currentStatus = () => {
    const now = performance.now()
    if (lastStatus === undefined || now - lastStatus.at > STATUS_REUSE_MS) {
      lastStatus = { at: now, status: options.status() }
    }
    return lastStatus.status
  }
  return async () => {
    const status = await currentStatus()
    for (const name of ["l1a", "l1b", "l2", "l3"] as const) {
      const layer = status?.layers[name] as
        | { readonly status: string; readonly entries?: number; readonly evictions?: number }
        | undefined
      up({ layer: layerLabel[name] }).updateUnsafe(layer?.status === "ok" ? 1 : 0, context)
      if (typeof layer?.entries === "number") entries({ layer: layerLabel[name] }).updateUnsafe(layer.entries, context)
      if (typeof layer?.evictions === "number") {
        evictions({ layer: layerLabel[name] }).updateUnsafe(layer.evictions - (evictionsSeen[name] ?? 0), context)
        evictionsSeen[name] = layer.evictions
      }
    }
    sampleBudget(status?.layers.l1b)
    const dropped = options.dropped?.() ?? 0
    telemetryDropped.updateUnsafe(dropped - droppedSeen, context)
    droppedSeen = dropped
  }
}

/** `GET /metrics`: Prometheus' text format from the gateway's registry, behind the gateway key unless public. */
export const metricsEndpoint = (options: EdgeOptions) => {
  const { config, context } = options
  const gatewayKeys = options.gatewayKeys ?? []
  const keyAccepted = gatewayKeyAccepts(config.gateway_api_key, gatewayKeys)
  const metricsLocked = (Redacted.value(config.gateway_api_key) !== "" || gatewayKeys.length > 0) &&
    !config.metrics_public
  initialise(options)
  const sample = sampler(options)
  return async (request: Request): Promise<Response> => {
    if (metricsLocked) {
      const presented = presentedGatewayKey(request.headers)
      if (presented === undefined || !(await keyAccepted(presented))) {
        return new Response(
          JSON.stringify({ error: { message: "/metrics needs the gateway key (or metrics_public = true)" } }),
          { status: 401, headers: { "content-type": "application/json", "www-authenticate": "Bearer" } }
        )
      }
    }
    await sample()
    return new Response(PrometheusMetrics.formatUnsafe(context), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" }
    })
  }
}

/** The three series a request updates. */
export interface RequestSeries {
  readonly http: (value: number) => void
  readonly duration: (value: number) => void
  readonly requests: ((value: number) => void) | undefined
}

/** The series a request updates, found with one lookup: this runs on every request. */
export const requestSeriesTable = (context: Context.Context<never>) => {
  // Routes, statuses and layers are few; methods are whatever a client sends, so the table is bounded.
  const recorded = new BoundedMemo<string, RequestSeries>(1000)
  // The last request's, kept aside: under load, request after request is the same route, method, status and layer.
  let last: { route: string; method: string; status: number; layer: string | undefined; series: RequestSeries } = {
    route: "",
    method: "",
    status: 0,
    layer: undefined,
    series: { http: () => undefined, duration: () => undefined, requests: undefined }
  }
  const seriesByKey = (route: string, method: string, status: string, finalLayer: string | undefined) => {
    const key = `${route} ${method} ${status} ${finalLayer ?? ""}`
    let series = recorded.get(key)
    if (series === undefined) {
      series = {
        http: boundSeries(httpRequestsTotal, { route, method, status }, context),
        duration: boundSeries(requestDuration, { endpoint: route }, context),
        requests: finalLayer === undefined
          ? undefined
          : boundSeries(requestsTotal, { final_layer: finalLayer, endpoint: route, status }, context)
      }
      recorded.set(key, series)
    }
    return series
  }
  return (route: string, method: string, status: number, finalLayer: string | undefined): RequestSeries => {
    if (last.status === status && last.layer === finalLayer && last.route === route && last.method === method) {
      return last.series
    }
    const series = seriesByKey(route, method, String(status), finalLayer)
    last = { route, method, status, layer: finalLayer, series }
    return series
  }
}
