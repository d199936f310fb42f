/**
 * `GET /admin/overview` (and the SSE `overview` event): what the gateway did and spent, read from the usage ledger,
 * the pipeline's status, the provider metrics and the loaded configuration. Plain data, assembled per call.
 */
import { type Context, Effect, Metric } from "effect"
import type { ConfigReport } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { type EffectiveSetting, effectiveSettings } from "../config/effectiveSettings.ts"
import type { PipelineStatus } from "../pipeline/Pipeline.ts"
import type { ProviderStatus } from "../providers/health/ProviderLink.ts"
import { isProviderId, providerConfigKey } from "../providers/registry.ts"
import type { UsageLedger, UsageWindow } from "../usage/UsageLedger.ts"
import type { UsageLayer, UsageRow, UsageTotals } from "../usage/UsageRow.ts"

export const HOUR_MS = 3_600_000
export const DAY_MS = 24 * HOUR_MS
/** The rows latency percentiles are read from: the ledger's recent requests. */
const LATENCY_SAMPLE = 1000
const LAYERS: ReadonlyArray<UsageLayer> = ["l1a", "l1b", "l2", "l3", "pass"]
const DEFLECTING = new Set<UsageLayer>(["l1a", "l1b", "l2"])

export interface OverviewSources {
  readonly config: AppConfigShape
  readonly configReport: ConfigReport["Service"]
  readonly usage: UsageLedger["Service"]
  readonly status: Effect.Effect<PipelineStatus>
  /** The gateway's runtime context: its metric registry holds the upstream retry and error counters. */
  readonly metrics: Context.Context<never>
  readonly version: string
  readonly runtime: string
  readonly startedAt: number
  readonly now: () => number
  /** Dashboards and clients following `/admin/events` now. */
  readonly eventStreams: () => number
}

export interface Deflection {
  /** Share of answered requests served by L1a, L1b or L2; `null` before the first request. */
  readonly rate: number | null
  readonly layers: Readonly<Record<UsageLayer, number>>
}

export const deflectionOf = (totals: UsageTotals): Deflection => {
  const layers = Object.fromEntries(LAYERS.map((layer) => [layer, totals.layers[layer] ?? 0])) as Record<
    UsageLayer,
    number
  >
  const answered = LAYERS.reduce((sum, layer) => sum + layers[layer], 0)
  const deflected = LAYERS.filter((layer) => DEFLECTING.has(layer)).reduce((sum, layer) => sum + layers[layer], 0)
  return { rate: answered === 0 ? null : deflected / answered, layers }
}

/** The nearest-rank percentile of sorted values. */
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

export const latencyByLayer = (rows: ReadonlyArray<UsageRow>) => {
  const byLayer = new Map<UsageLayer, Array<number>>()
  for (const row of rows) {
    const values = byLayer.get(row.layer) ?? []
    values.push(row.latency_ms)
    byLayer.set(row.layer, values)
  }
  const out: Record<string, { p50: number; p99: number; count: number }> = {}
  for (const layer of LAYERS) {
    const values = byLayer.get(layer)
    if (!values) continue
    values.sort((a, b) => a - b)
    out[layer] = { p50: percentile(values, 0.5), p99: percentile(values, 0.99), count: values.length }
  }
  return out
}

/** Start of the current UTC day. */
export const startOfDayUtc = (now: number) => now - (now % DAY_MS)

type LayerStatus = {
  readonly status: string
  readonly reason?: string
  readonly entries?: number
  readonly bytes?: number
}

const cacheOf = (status: PipelineStatus) => {
  const out: Record<string, { entries: number; bytes: number }> = {}
  for (const layer of ["l1a", "l1b"] as const) {
    const view = status.layers[layer] as LayerStatus
    if (view.status === "ok") out[layer] = { entries: view.entries ?? 0, bytes: view.bytes ?? 0 }
  }
  return out
}

/** Sums a counter's series by one attribute, for the series whose other attributes pass `keep`. */
const counterBy = (
  metrics: Context.Context<never>,
  id: string,
  by: string,
  keep: (attributes: Readonly<Record<string, unknown>>) => boolean = () => true
) => {
  const sums = new Map<string, number>()
  for (const snapshot of Metric.snapshotUnsafe(metrics)) {
    if (snapshot.id !== id || snapshot.type !== "Counter") continue
    const attributes = (snapshot.attributes ?? {}) as Readonly<Record<string, unknown>>
    if (!keep(attributes)) continue
    const key = String(attributes[by] ?? "")
    sums.set(key, (sums.get(key) ?? 0) + Number(snapshot.state.count))
  }
  return sums
}

/** A provider's failure as the overview shows it: its status and time, with the reason and message when known. */
interface ShownFailure {
  readonly at: string
  readonly status?: number
  readonly reason?: string
  readonly message?: string
}

/**
 * The provider's last failure as it told it (status, reason, message); else the newest failed request the ledger
 * holds for it (a gateway without provider health, or a failure after the answer began).
 */
const lastFailure = (row: UsageRow | undefined, health: ProviderStatus | undefined): ShownFailure | null =>
  health?.last_error ?? (row === undefined ? null : { status: row.status, at: new Date(row.at).toISOString() })

/** A breaker open while every request failed reads "down"; every key rate-limited, "rate limited". */
const statusOf = (seen: UsageTotals | undefined, health: ProviderStatus | undefined) => {
  if (health?.breaker.state === "open") return "down"
  if (health !== undefined && health.keys.length > 0 && health.keys.every((key) => key.state === "cooling")) {
    return "rate limited"
  }
  return !seen || seen.errors < seen.requests ? "ok" : "failing"
}

/**
 * The provider chain (then providers only aliases name), each with what this gateway saw of it since it started
 * and its health as `/admin/providers` shows it: breaker, retry budget, keys (masked).
 */
const providersOf = (
  sources: OverviewSources,
  chain: ReadonlyArray<string>,
  health: ReadonlyArray<ProviderStatus>,
  sinceStart: ReadonlyMap<string, UsageTotals>,
  recent: ReadonlyArray<UsageRow>
) => {
  const retries = counterBy(sources.metrics, "isartor_l3_retries_total", "provider")
  const denied = counterBy(sources.metrics, "isartor_l3_retries_denied_total", "provider")
  const rateLimited = counterBy(
    sources.metrics,
    "isartor_l3_errors_total",
    "provider",
    (attributes) => attributes.status === "429" || attributes.status === "RateLimited"
  )
  const healthOf = new Map(health.map((provider) => [provider.provider, provider]))
  const ids = [...chain, ...health.map((provider) => provider.provider).filter((id) => !chain.includes(id))]
  return ids.map((id, position) => {
    const seen = sinceStart.get(id)
    const link = healthOf.get(id)
    const fallbackModel = isProviderId(id) ? sources.config.providers[providerConfigKey(id)].model : ""
    return {
      id,
      role: link?.role ?? (position === 0 ? "primary" : "fallback"),
      model: position === 0 && chain.length > 0 ? sources.config.external_llm_model : fallbackModel,
      status: statusOf(seen, link),
      requests: seen?.requests ?? 0,
      errors: seen?.errors ?? 0,
      retries: retries.get(id) ?? 0,
      retries_denied: denied.get(id) ?? 0,
      // Every 429 the upstream answered, the ones another key absorbed too (the pool counts them per key).
      rate_limited: link === undefined
        ? rateLimited.get(id) ?? 0
        : link.keys.reduce((sum, key) => sum + key.rate_limited, 0),
      breaker: link?.breaker ?? null,
      retry_budget: link?.retry_budget ?? null,
      key_strategy: link?.strategy ?? null,
      keys: link?.keys ?? [],
      last_error: lastFailure(recent.find((row) => row.provider === id && row.status >= 400), link)
    }
  })
}

/** A layer that is down, said in a line; a layer turned off is no warning. */
const layerWarnings = (status: PipelineStatus) =>
  Object.entries(status.layers).flatMap(([layer, view]) => {
    const { status: state, reason } = view as LayerStatus
    return state === "ok" || state === "disabled" ? [] : [`${layer} is ${state}${reason ? `: ${reason}` : ""}`]
  })

export const overview = (sources: OverviewSources) =>
  Effect.gen(function*() {
    const now = sources.now()
    const until = now + 1
    const window = (since: number): UsageWindow => ({ since, until })
    const { usage } = sources
    const [sinceStart, last24h, last7d, today, byProvider, recent, status] = yield* Effect.all([
      usage.totals(window(sources.startedAt)),
      usage.totals(window(now - DAY_MS)),
      usage.totals(window(now - 7 * DAY_MS)),
      usage.totals(window(startOfDayUtc(now))),
      usage.report(window(sources.startedAt), "provider"),
      usage.recent(LATENCY_SAMPLE),
      sources.status
    ], { concurrency: "unbounded" })
    const l3 = status.layers.l3 as LayerStatus & { readonly chain?: ReadonlyArray<string> }
    const providerTotals = new Map(byProvider.groups.map((group) => [group.key, group]))
    return {
      version: sources.version,
      runtime: sources.runtime,
      uptime_secs: Math.round((now - sources.startedAt) / 1000),
      now: new Date(now).toISOString(),
      deflection: { now: deflectionOf(sinceStart), "24h": deflectionOf(last24h), "7d": deflectionOf(last7d) },
      today,
      totals: { "24h": last24h, "7d": last7d },
      latency_ms: latencyByLayer(recent),
      cache: cacheOf(status),
      providers: providersOf(sources, l3.chain ?? [], status.providers ?? [], providerTotals, recent),
      l2: status.layers.l2,
      event_streams: sources.eventStreams(),
      warnings: [...sources.configReport.warnings, ...layerWarnings(status), ...(status.warnings ?? [])],
      config: effectiveSettings(sources.config, sources.configReport.setBy) satisfies Array<EffectiveSetting>
    }
  })

export type Overview = Effect.Success<ReturnType<typeof overview>>
