import { Context, Effect, Metric } from "effect"
import type { LayerName } from "../domain/Answer.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { modelOf, usageOf } from "./usage.ts"

/**
 * The gateway's metrics, named and labelled as the operators' guide writes its PromQL
 * (`isartor_requests_total{final_layer="L3_Cloud"}`, `isartor_layer_duration_seconds_bucket`). Effect `Metric`s: the
 * gateway's own `/metrics` renders them in Prometheus' text format, and the runtime may bridge them to OTLP.
 */

/** The label a layer has in every metric: the guide's names. */
export const layerLabel: Record<LayerName, string> = {
  l1a: "L1a_ExactCache",
  l1b: "L1b_SemanticCache",
  l2: "L2_SLM",
  l3: "L3_Cloud"
}

/** From 0.1 ms (an exact hit) to 60 s (a slow cloud answer). */
export const DURATION_BOUNDARIES: ReadonlyArray<number> = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60
]

export const requestsTotal = Metric.counter("isartor_requests_total", {
  description: "Requests answered by the pipeline, by the layer that answered (final_layer), endpoint and HTTP status."
})
export const httpRequestsTotal = Metric.counter("isartor_http_requests_total", {
  description: "Every HTTP request, by route and status, including those refused before the pipeline (400, 401, 413)."
})
export const requestDuration = Metric.histogram("isartor_request_duration_seconds", {
  description: "Time from request to response headers, by endpoint.",
  boundaries: DURATION_BOUNDARIES
})
export const layerDuration = Metric.histogram("isartor_layer_duration_seconds", {
  description: "Time each layer took on a request, hit or miss (layer_name).",
  boundaries: DURATION_BOUNDARIES
})
export const cacheEntries = Metric.gauge("isartor_cache_entries", {
  description: "Entries each cache holds now (this replica's view for Redis-backed L1b)."
})
export const cacheEvictions = Metric.counter("isartor_cache_evictions_total", {
  description: "Entries the in-process caches dropped to stay within cache_max_capacity / cache_max_bytes.",
  incremental: true
})
export const l3Retries = Metric.counter("isartor_l3_retries_total", {
  description: "Upstream calls retried, by provider and the reason of the failure retried."
})
export const l3Errors = Metric.counter("isartor_l3_errors_total", {
  description: "Failed upstream attempts, by provider and upstream status (or the reason when there was none)."
})
export const retriesDenied = Metric.counter("isartor_l3_retries_denied_total", {
  description: "Retries the gateway did not make because the provider's retry budget was spent, by provider."
})
export const providerBreakerState = Metric.gauge("isartor_provider_breaker_state", {
  description: "Each provider's circuit breaker: 0 closed (called), 1 open (not called), 2 half-open (one probe)."
})
export const providerKeyCooldowns = Metric.counter("isartor_provider_key_cooldowns_total", {
  description: "Times one of a provider's pooled keys was rate-limited and set to cool down, by provider."
})
export const budgetUsedRatio = Metric.gauge("isartor_budget_used_ratio", {
  description: "Each budget's most spent limit in its current UTC window, as a share of the limit (1: spent)."
})
export const budgetBlocked = Metric.counter("isartor_budget_blocked_total", {
  description: "Requests a spent budget refused (a 429, or sent on to the next provider), by budget."
})
export const tokensTotal = Metric.counter("isartor_tokens_total", {
  description: "Tokens of answers: spent (from L3) or saved (an answer's usage served again from L1a, L1b or L2)."
})
export const contextTokensSaved = Metric.counter("isartor_context_tokens_saved_total", {
  description: "Prompt tokens the context optimiser (context_optimizer) kept from L3 requests, by the o200k tokenizer."
})
export const costSaved = Metric.counter("isartor_estimated_cost_saved_usd_total", {
  description: "Estimated USD not spent at the provider: saved tokens priced by model_prices (list prices, estimates)."
})
export const l1bBudgetHits = Metric.counter("isartor_l1b_budget_hits_total", {
  description:
    "L1b would-be hits by the false-hit budget's verdict (outcome: served, explored — sent upstream to be checked — or withheld), by decision.",
  incremental: true
})
export const l1bFalseHitRate = Metric.gauge("isartor_l1b_false_hit_rate", {
  description:
    "The false-hit rate of the L1b hits the budget serves, as observed and as its 95 % upper bound (bound: observed, upper), by decision."
})
export const l1bEntriesStopped = Metric.gauge("isartor_l1b_entries_stopped_serving", {
  description: "L1b entries that stopped answering other questions after a reported wrong answer, by decision."
})
export const layerUp = Metric.gauge("isartor_layer_up", {
  description: "1 when the layer is usable, 0 when it is down or turned off; mirrors /health."
})
export const buildInfo = Metric.gauge("isartor_build_info", {
  description: "Always 1; the labels say which version runs on which runtime."
})
export const telemetryDropped = Metric.counter("isartor_otel_dropped_total", {
  description: "Spans or metric exports the OTLP exporter dropped (collector down or queue full).",
  incremental: true
})

/**
 * One series of a metric per label set, made once: an update then costs a map lookup, not an attribute merge
 * (this runs on every exact hit).
 */
export const seriesOf = <M extends Metric.Metric<any, any>>(metric: M) => {
  const made = new Map<string, M>()
  return (labels: Readonly<Record<string, string>>): M => {
    const key = Object.values(labels).join("\u0000")
    let series = made.get(key)
    if (series === undefined) {
      series = Metric.withAttributes(metric, labels) as M
      made.set(key, series)
    }
    return series
  }
}

/**
 * A series updated outside the effect runtime, its labels merged into the context once: `Metric.withAttributes`
 * adds them to a copy of the whole context (every service of the gateway) on each update, which cost an exact hit
 * more than the update itself. The series is the one `withAttributes` addresses (keys are label sets, order aside).
 */
export const boundSeries = <In>(
  metric: Metric.Metric<In, unknown>,
  labels: Readonly<Record<string, string>>,
  context: Context.Context<never>
): (value: In) => void => {
  const attributes = { ...Context.get(context, Metric.CurrentMetricAttributes), ...labels }
  const labelled = Context.add(context, Metric.CurrentMetricAttributes, attributes)
  // The series' own hooks, found once in the gateway's registry (reading the value registers the series): an update
  // through the metric looks its series up by key in the registry every time. The gateway never removes a series.
  metric.valueUnsafe(labelled)
  const hooks = seriesHooks(Context.get(context, Metric.MetricRegistry), metric, attributes)
  return hooks === undefined
    ? (value) => metric.updateUnsafe(value, labelled)
    : (value) => hooks.update(value, labelled)
}

/**
 * A plain metric's series in the registry, by the key effect (pinned exact) files it under: type, id, description
 * and the metric's own attributes merged with the context's, sorted by name, as JSON. One lookup, whatever the
 * registry holds (labels come from clients: a scan per new label set would be quadratic). A key that finds nothing
 * (another effect's format) leaves the update to the metric itself: slower, never wrong.
 */
export const seriesHooks = (
  registry: Metric.MetricRegistry,
  metric: Metric.Metric<any, unknown>,
  attributes: Readonly<Record<string, string>>
): Metric.Metric.Hooks<any, unknown> | undefined => {
  const merged = { ...(metric.attributes as Readonly<Record<string, string>> | undefined), ...attributes }
  const entries = Object.entries(merged).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const found = registry.get(JSON.stringify([metric.type, metric.id, metric.description, entries]))
  return found !== undefined && found.id === metric.id && found.type === metric.type ? found.hooks : undefined
}

/** `boundSeries` for module-level series, bound once per gateway context (each gateway has its own registry). */
const perContext = <In>(metric: Metric.Metric<In, unknown>, labels: Readonly<Record<string, string>>) => {
  const bound = new WeakMap<Context.Context<never>, (value: In) => void>()
  return (value: In, context: Context.Context<never>): void => {
    let update = bound.get(context)
    if (update === undefined) bound.set(context, update = boundSeries(metric, labels, context))
    update(value)
  }
}

const layerDurationSeries = seriesOf(layerDuration)
const durationOf = {
  l1a: layerDurationSeries({ layer_name: layerLabel.l1a }),
  l1b: layerDurationSeries({ layer_name: layerLabel.l1b }),
  l2: layerDurationSeries({ layer_name: layerLabel.l2 }),
  l3: layerDurationSeries({ layer_name: layerLabel.l3 })
}

/** Records how long a layer took on a request, whether it answered or passed the request on. */
export const timeLayer = <A, E, R>(layer: LayerName, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.onExit(effect, () => Metric.update(durationOf[layer], (performance.now() - start) / 1000))
  })

const boundDurationOf = {
  l1a: perContext(layerDuration, { layer_name: layerLabel.l1a }),
  l1b: perContext(layerDuration, { layer_name: layerLabel.l1b }),
  l2: perContext(layerDuration, { layer_name: layerLabel.l2 }),
  l3: perContext(layerDuration, { layer_name: layerLabel.l3 })
}

/** `timeLayer` for a layer that answered without the effect runtime: an exact hit from memory. */
export const recordLayerDuration = (layer: LayerName, seconds: number, context: Context.Context<never>): void =>
  boundDurationOf[layer](seconds, context)

const tokenSeries = seriesOf(tokensTotal)
const tokensSaved = tokenSeries({ direction: "saved" })
const tokensSpent = tokenSeries({ direction: "spent" })
const addSaved = perContext(tokensTotal, { direction: "saved" })
const addSpent = perContext(tokensTotal, { direction: "spent" })
const addCostSaved = perContext(costSaved, {})

/** What `countTokens` reads of a completion, remembered per completion text (see `readTokens`). */
interface TokenFacts {
  readonly total: number
  readonly input: number
  readonly output: number
  readonly model: string
}
const NO_TOKENS: TokenFacts = { total: 0, input: 0, output: 0, model: "" }
const MAX_REMEMBERED = 4096
const MAX_REMEMBERED_CHARS = 4 * 1024 * 1024
const remembered = new BoundedMemo<string, TokenFacts>(
  MAX_REMEMBERED,
  MAX_REMEMBERED_CHARS,
  (completion) => completion.length
)

/**
 * The usage and model of a completion. A cached answer is the same string on every hit: its facts are read once and
 * found again by identity (the map compares the very string it holds first); bounded, forgotten wholesale when full.
 */
const readTokens = (completion: string): TokenFacts => {
  const known = remembered.get(completion)
  if (known !== undefined) return known
  const usage = usageOf(completion)
  // An estimate (no provider reported it) is not counted as tokens saved.
  const facts = usage === undefined || usage.estimated === true
    ? NO_TOKENS
    : { total: usage.input + usage.output, input: usage.input, output: usage.output, model: modelOf(completion) }
  return remembered.set(completion, facts)
}

/**
 * Counts an answer's tokens: spent when a provider produced it, saved when a cache or the local model served it
 * instead — then also what it would have cost, at the model's listed price.
 */
export const countTokens = (
  completion: string,
  direction: "saved" | "spent",
  price: (model: string) => { readonly input: number; readonly output: number } | undefined,
  context: Context.Context<never>
): void => {
  // A provider's answer is new each time: read, not remembered.
  const facts = direction === "spent" ? undefined : readTokens(completion)
  if (facts === undefined) {
    const usage = usageOf(completion)
    const total = usage === undefined ? 0 : usage.input + usage.output
    if (total > 0) addSpent(total, context)
    return
  }
  if (facts.total <= 0) return
  addSaved(facts.total, context)
  const listed = price(facts.model)
  if (listed) addCostSaved(facts.input * listed.input + facts.output * listed.output, context)
}

/** The series every gateway has, created at 0 before the first request. */
export const initialiseSeries = (context: Context.Context<never>) => {
  for (const series of Object.values(durationOf)) series.valueUnsafe(context)
  tokensSaved.valueUnsafe(context)
  tokensSpent.valueUnsafe(context)
  costSaved.valueUnsafe(context)
  telemetryDropped.valueUnsafe(context)
}
