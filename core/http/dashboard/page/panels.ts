/**
 * The panels that show what the admin API answered: each takes its data and returns the elements to show, so a
 * live update redraws one panel, never the page.
 */
import { figure, h, table } from "./dom.ts"
import { bytes, callerName, clock, count, LAYER_NAMES, LAYERS, millis, percent, usd } from "./format.ts"
import type { Deflection, Overview, UsageLayer, UsageReport, UsageRow, UsageTotals } from "./types.ts"

const layerName = (layer: string) => LAYER_NAMES[layer as UsageLayer] ?? layer
const requestsOf = (deflection: Deflection | undefined) =>
  Object.values(deflection?.layers ?? {}).reduce((sum, value) => sum + (value ?? 0), 0)

const deflectionFigure = (name: string, label: string, deflection: Deflection | undefined) => {
  const requests = requestsOf(deflection)
  const deflected = (deflection?.layers.l1a ?? 0) + (deflection?.layers.l1b ?? 0) + (deflection?.layers.l2 ?? 0)
  return figure(
    name,
    label,
    deflection?.rate ?? null,
    percent(deflection?.rate ?? null),
    `${count(deflected)} of ${count(requests)} requests`
  )
}

/** The headline figures: deflection, spend and savings, cache size. */
export const glance = (overview: Overview): ReadonlyArray<HTMLElement> => {
  const day = overview.totals["24h"]
  const cache = overview.cache ?? {}
  const entries = (cache.l1a?.entries ?? 0) + (cache.l1b?.entries ?? 0)
  return [
    deflectionFigure("deflection-now", "Deflection since start", overview.deflection.now),
    deflectionFigure("deflection-24h", "Deflection, last 24 h", overview.deflection["24h"]),
    deflectionFigure("deflection-7d", "Deflection, last 7 days", overview.deflection["7d"]),
    figure(
      "spent-24h",
      "Spent, last 24 h",
      day.cost_usd,
      usd(day.cost_usd),
      `${count(day.tokens_in + day.tokens_out)} tokens`
    ),
    figure(
      "saved-24h",
      "Saved, last 24 h",
      day.cost_saved_usd,
      usd(day.cost_saved_usd),
      `${count(day.tokens_saved)} tokens`
    ),
    figure("requests-24h", "Requests, last 24 h", day.requests, count(day.requests), `${count(day.errors)} failed`),
    figure(
      "cache-entries",
      "Cache entries",
      entries,
      count(entries),
      `L1a ${count(cache.l1a?.entries ?? 0)} · L1b ${count(cache.l1b?.entries ?? 0)} · ${
        bytes((cache.l1a?.bytes ?? 0) + (cache.l1b?.bytes ?? 0))
      }`
    )
  ]
}

/** Spent and saved over today, 24 h and 7 days: each cell's number also in `data-value`. */
export const spendTable = (overview: Overview): HTMLElement => {
  const windows: ReadonlyArray<[string, string, UsageTotals | undefined]> = [
    ["today", "Today", overview.today],
    ["24h", "24 h", overview.totals["24h"]],
    ["7d", "7 days", overview.totals["7d"]]
  ]
  const cell = (name: string, value: number, text: string) =>
    h("span", { "data-figure": name, "data-value": value }, text)
  return table(
    "Tokens and estimated cost spent upstream, and saved by deflection",
    ["Window", "Requests", "Tokens spent", "Spent", "Tokens saved", "Saved"],
    windows.filter(([, , totals]) => totals !== undefined).map(([key, label, totals]) => [
      label,
      count(totals!.requests),
      count(totals!.tokens_in + totals!.tokens_out),
      cell(`spent-${key}`, totals!.cost_usd, usd(totals!.cost_usd)),
      count(totals!.tokens_saved),
      cell(`saved-${key}`, totals!.cost_saved_usd, usd(totals!.cost_saved_usd))
    ]),
    { numeric: [1, 2, 3, 4, 5] }
  )
}

export const latencyTable = (overview: Overview): HTMLElement =>
  table(
    "Latency of the last requests, per layer that answered",
    ["Layer", "p50", "p99", "Requests"],
    LAYERS.flatMap((layer) => {
      const stat = overview.latency_ms?.[layer]
      return stat === undefined ? [] : [[layerName(layer), millis(stat.p50), millis(stat.p99), count(stat.count)]]
    }),
    { numeric: [1, 2, 3] }
  )

type ShownProvider = Overview["providers"][number]

/** The breaker's state, and until when an open one keeps the provider out; its recent calls in the title. */
const breakerCell = (breaker: ShownProvider["breaker"]) =>
  breaker === null ? "–" : h(
    "span",
    {
      "data-breaker": breaker.state,
      class: `status status-${breaker.state === "closed" ? "ok" : breaker.state === "open" ? "down" : "degraded"}`,
      title: `${breaker.recent_failures} of the last ${breaker.recent_calls} calls failed`
    },
    breaker.state.replace("_", "-"),
    breaker.open_until === undefined ? "" : ` until ${clock(breaker.open_until)}`
  )

/** Each key masked (`sk-…abcd`), its label and state, and until when a rate-limited one cools down. */
const keysCell = (keys: ShownProvider["keys"]) =>
  keys.length === 0 ? "–" : h(
    "ul",
    { class: "keys" },
    keys.map((key) =>
      h(
        "li",
        { "data-key-state": key.state },
        h("code", {}, key.key),
        ` ${key.label} · ${key.state}`,
        key.cooling_until === undefined ? "" : ` until ${clock(key.cooling_until)}`
      )
    )
  )

const failureText = (failure: ShownProvider["last_error"]) =>
  failure === null ? "none" : [
    failure.status ?? failure.reason,
    `at ${clock(failure.at)}`,
    failure.message === undefined ? "" : `: ${failure.message}`
  ].filter((part) => part !== "" && part !== undefined).join(" ")

export const providersTable = (overview: Overview): HTMLElement =>
  table(
    "Providers, in the order requests try them: their circuit breaker, keys and retries",
    [
      "#",
      "Provider",
      "Model",
      "Status",
      "Breaker",
      "Keys",
      "Requests",
      "Errors",
      "Retries",
      "Retries denied",
      "429s",
      "Last error"
    ],
    (overview.providers ?? []).map((provider, i) => [
      count(i + 1),
      provider.role === "alias" ? `${provider.id} (aliases only)` : provider.id,
      provider.model,
      h("span", { class: `status status-${provider.status.replace(/[^a-z]/g, "")}` }, provider.status),
      breakerCell(provider.breaker),
      keysCell(provider.keys),
      count(provider.requests),
      count(provider.errors),
      count(provider.retries),
      count(provider.retries_denied),
      count(provider.rate_limited),
      failureText(provider.last_error)
    ]),
    { numeric: [0, 6, 7, 8, 9, 10], wrap: [11] }
  )

/** A usage report's groups with the most requests first. */
export const topTable = (caption: string, nameHeader: string, report: UsageReport | undefined, limit = 10) =>
  table(
    caption,
    [nameHeader, "Requests", "Deflected", "Tokens spent", "Spent", "Saved"],
    [...(report?.groups ?? [])].sort((a, b) => b.requests - a.requests).slice(0, limit).map((group) => {
      const deflected = (group.layers.l1a ?? 0) + (group.layers.l1b ?? 0) + (group.layers.l2 ?? 0)
      return [
        report?.by === "caller" ? callerName(group.key) : group.key === "" ? "(none)" : group.key,
        count(group.requests),
        percent(group.requests === 0 ? 0 : deflected / group.requests),
        count(group.tokens_in + group.tokens_out),
        usd(group.cost_usd),
        usd(group.cost_saved_usd)
      ]
    }),
    { numeric: [1, 2, 3, 4, 5] }
  )

/** The last requests; their question too when the gateway keeps it (`request_log_bodies`, credentials masked). */
export const requestsTable = (rows: ReadonlyArray<UsageRow>, limit = 50): HTMLElement => {
  const shown = rows.slice(0, limit)
  const withText = shown.some((row) => row.question !== undefined)
  return table(
    `The last ${limit} requests, newest first`,
    [
      "Time",
      "Caller",
      "Endpoint",
      "Model",
      "Layer",
      "Provider",
      "Tokens",
      "Spent",
      "Saved",
      "Latency",
      "Status",
      ...(withText ? ["Question"] : [])
    ],
    shown.map((row) => [
      clock(row.at),
      callerName(row.caller, row.label),
      row.family,
      row.model || row.model_asked || "–",
      h("span", { class: `layer layer-${row.layer}` }, row.layer.toUpperCase()),
      row.provider || "–",
      `${count(row.tokens_in)} / ${count(row.tokens_out)}`,
      usd(row.cost_usd),
      usd(row.cost_saved_usd),
      millis(row.latency_ms),
      count(row.status),
      ...(withText ? [row.question ?? ""] : [])
    ]),
    { numeric: [6, 7, 8, 9, 10], wrap: [11] }
  )
}

/** The effective configuration: by default only what differs from the defaults, as an operator looks for it. */
export const configTable = (overview: Overview, filter: string, all: boolean): HTMLElement => {
  const wanted = filter.trim().toLowerCase()
  const text = (value: unknown) => typeof value === "string" ? value : JSON.stringify(value) ?? ""
  const rows = (overview.config ?? []).filter((row) =>
    (all || row.source !== "default") &&
    (wanted === "" || `${row.key} ${text(row.value)} ${row.source}`.toLowerCase().includes(wanted))
  )
  return table(
    "Effective configuration and where each value comes from",
    ["Setting", "Value", "Source"],
    rows.map((row) => [h("code", {}, row.key), text(row.value), row.source]),
    { wrap: [1] }
  )
}
