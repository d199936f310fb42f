import type { UsageBy, UsageReport, UsageTotals } from "../core/usage/UsageRow.ts"
import { type AdminOptions, adminRequest } from "./adminApi.ts"
import { bold, dim, printJson } from "./output.ts"

export interface StatsOptions extends AdminOptions {
  readonly since?: string
  readonly until?: string
  readonly by?: UsageBy
  readonly json?: boolean
}

const DEFLECTING = ["l1a", "l1b", "l2"] as const

export const tokens = (n: number) => Math.round(n).toLocaleString("en-US")
/** Dollars with cents, or with four decimals below a dollar: a day of cache hits is often worth less than a cent. */
export const usd = (n: number) => `$${n >= 1 || n === 0 ? n.toFixed(2) : n.toFixed(4)}`

const deflected = (totals: UsageTotals) => {
  const answered = Object.values(totals.layers).reduce((sum, n) => sum + (n ?? 0), 0)
  const served = DEFLECTING.reduce((sum, layer) => sum + (totals.layers[layer] ?? 0), 0)
  return answered === 0 ? "-" : `${((served / answered) * 100).toFixed(1)} %`
}

const cells = (key: string, totals: UsageTotals) => [
  key,
  tokens(totals.requests),
  deflected(totals),
  tokens(totals.tokens_in),
  tokens(totals.tokens_out),
  usd(totals.cost_usd),
  tokens(totals.tokens_saved),
  usd(totals.cost_saved_usd),
  tokens(totals.errors)
]

/** Columns padded to their widest cell: the first left-aligned, the figures right-aligned. */
const table = (rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join("  ").trimEnd()
  )
}

/** `isartor stats`: the usage ledger of the running gateway, grouped, as a table (or the report as JSON). */
export const stats = async (options: StatsOptions): Promise<number> => {
  const query = new URLSearchParams({ since: options.since ?? "24h", by: options.by ?? "model" })
  if (options.until !== undefined) query.set("until", options.until)
  const report = (await adminRequest(options, "GET", `/admin/usage?${query}`)) as UsageReport
  if (options.json) {
    printJson(report)
    return 0
  }
  console.log(`${bold("usage")} ${dim(`${report.since} → ${report.until}, by ${report.by}`)}`)
  if (report.total.requests === 0) {
    console.log("no requests in this window")
    return 0
  }
  const header = [
    report.by,
    "requests",
    "deflected",
    "tokens in",
    "tokens out",
    "spent",
    "tokens saved",
    "saved",
    "errors"
  ]
  const groups = report.groups.map((group) => cells(group.key === "" ? "(none)" : group.key, group))
  const lines = table([header, ...groups, cells("total", report.total)])
  console.log(bold(lines[0]!))
  for (const line of lines.slice(1, -1)) console.log(line)
  console.log(bold(lines[lines.length - 1]!))
  if (report.unpriced_models.length > 0) {
    console.log(
      dim(`no price for ${report.unpriced_models.join(", ")}: counted as $0 (set [pricing."<provider>/<model>"])`)
    )
  }
  return 0
}
