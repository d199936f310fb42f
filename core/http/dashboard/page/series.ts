/** The charts' data over time: the buckets of a window, deflection, spend and the request rate by layer. */
import type { ChartData } from "./charts.ts"
import { LAYER_COLORS } from "./charts.ts"
import { table } from "./dom.ts"
import { count, LAYER_NAMES, LAYERS } from "./format.ts"
import type { UsageReport, UsageRow } from "./types.ts"

const HOUR = 3600
const DAY = 86_400
/** The longest window drawn hour by hour; a longer one is drawn day by day. */
const HOURLY_UP_TO_MS = 48 * HOUR * 1000
const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: HOUR * 1000, d: DAY * 1000, w: 7 * DAY * 1000 }

/** The buckets the charts over time use for a window such as `24h` or `7d`: hours up to 48 h, else days. */
export const bucketFor = (window: string): "hour" | "day" => {
  const back = /^(\d+)([mhdw])$/.exec(window.trim())
  return back !== null && Number(back[1]) * UNIT_MS[back[2]!]! <= HOURLY_UP_TO_MS ? "hour" : "day"
}

/** A bucket's name as the admin API keys its groups (`2026-12-07T10:00Z`, `2026-12-07`), and as the tables show it. */
export const bucketName = (by: UsageReport["by"], seconds: number) => {
  const iso = new Date(seconds * 1000).toISOString()
  return by === "hour" ? `${iso.slice(0, 13)}:00Z` : iso.slice(0, 10)
}

/** Every UTC hour (`by=hour`) or day of a report's window, each with its group (or none). */
const buckets = (report: UsageReport) => {
  const step = report.by === "hour" ? HOUR : DAY
  const start = (ms: number) => Math.floor(ms / 1000 / step) * step
  const first = start(Date.parse(report.since))
  const last = start(Date.parse(report.until) - 1)
  const byKey = new Map(report.groups.map((group) => [group.key, group]))
  const x: Array<number> = []
  for (let at = first; at <= last; at += step) x.push(at)
  return { x, step, groups: x.map((at) => byKey.get(bucketName(report.by, at))) }
}

export const deflectionOverTime = (report: UsageReport): ChartData => {
  const { groups, step, x } = buckets(report)
  return {
    x,
    step,
    series: LAYERS.map((layer) => ({
      label: LAYER_NAMES[layer],
      color: LAYER_COLORS[layer]!,
      values: groups.map((group) => group?.layers[layer] ?? 0)
    }))
  }
}

export const spendOverTime = (report: UsageReport): ChartData => {
  const { groups, step, x } = buckets(report)
  return {
    x,
    step,
    series: [
      { label: "Spent", color: LAYER_COLORS.l3!, values: groups.map((group) => group?.cost_usd ?? 0) },
      { label: "Saved", color: LAYER_COLORS.l1a!, values: groups.map((group) => group?.cost_saved_usd ?? 0) }
    ]
  }
}

/** Requests per minute over the last hour, by layer, from the recent rows. */
export const ratePerMinute = (rows: ReadonlyArray<UsageRow>, now: number): ChartData => {
  const minute = 60
  const last = Math.floor(now / 1000 / minute) * minute
  const x = Array.from({ length: 60 }, (_, i) => last - (59 - i) * minute)
  const counts = new Map<string, Array<number>>(LAYERS.map((layer) => [layer, x.map(() => 0)]))
  for (const row of rows) {
    const index = 59 - (last - Math.floor(row.at / 1000 / minute) * minute) / minute
    const series = counts.get(row.layer)
    if (series !== undefined && index >= 0 && index < 60) series[index]!++
  }
  return {
    x,
    step: minute,
    series: LAYERS.map((layer) => ({
      label: LAYER_NAMES[layer],
      color: LAYER_COLORS[layer]!,
      values: counts.get(layer)!
    }))
  }
}

/** A chart's numbers as a table, for whoever cannot see the chart. */
export const chartTable = (
  caption: string,
  data: ChartData,
  bucket: (seconds: number) => string,
  value: (n: number) => string
) =>
  table(
    caption,
    ["When", ...data.series.map((one) => one.label)],
    data.x.map((at, i) => [bucket(at), ...data.series.map((one) => value(one.values[i] ?? 0))]).filter((row, i) =>
      data.series.some((one) => (one.values[i] ?? 0) !== 0) || i === data.x.length - 1
    ),
    { numeric: data.series.map((_, i) => i + 1) }
  )

/** A sentence that says what a stacked chart shows, for its `aria-label`. */
export const describeStack = (what: string, data: ChartData) =>
  `${what}: ${data.series.map((one) => `${one.label} ${count(one.values.reduce((sum, v) => sum + v, 0))}`).join(", ")}`
