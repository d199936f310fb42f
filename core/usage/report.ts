import type { UsageWindow } from "./UsageLedger.ts"
import type { UsageBy, UsageGroup, UsageLayer, UsageReport, UsageTotals } from "./UsageRow.ts"
import { SUM_FIELDS, type UsageRollup } from "./UsageStore.ts"

type MutableTotals = { -readonly [K in keyof UsageTotals]: UsageTotals[K] } & {
  layers: Partial<Record<UsageLayer, number>>
}

const emptyTotals = (): MutableTotals => ({
  requests: 0,
  errors: 0,
  tokens_in: 0,
  tokens_out: 0,
  cost_usd: 0,
  tokens_saved: 0,
  cost_saved_usd: 0,
  layers: {}
})

const add = (totals: MutableTotals, rollup: UsageRollup) => {
  for (const field of SUM_FIELDS) totals[field] += rollup[field]
  totals.layers[rollup.layer] = (totals.layers[rollup.layer] ?? 0) + rollup.requests
}

/** Sums of floating-point costs, shown to a millionth of a dollar: no 0.30000000000000004 in a report. */
const rounded = (totals: MutableTotals): UsageTotals => ({
  ...totals,
  cost_usd: Math.round(totals.cost_usd * 1e6) / 1e6,
  cost_saved_usd: Math.round(totals.cost_saved_usd * 1e6) / 1e6
})

export const totalsOf = (rollups: ReadonlyArray<UsageRollup>): UsageTotals => {
  const totals = emptyTotals()
  for (const rollup of rollups) add(totals, rollup)
  return rounded(totals)
}

const groupKey: Record<UsageBy, (rollup: UsageRollup) => string> = {
  caller: (rollup) => rollup.caller,
  model: (rollup) => rollup.model,
  provider: (rollup) => rollup.provider,
  layer: (rollup) => rollup.layer,
  hour: (rollup) => `${new Date(rollup.hour).toISOString().slice(0, 13)}:00Z`,
  day: (rollup) => new Date(rollup.hour).toISOString().slice(0, 10)
}

/**
 * The window's rollups, grouped (the biggest spenders first, then by name; hours and days in order) and totalled.
 * `priced` says whether a provider's model has a price: those without one that answered are listed.
 */
export const reportOf = (
  rollups: ReadonlyArray<UsageRollup>,
  window: UsageWindow,
  by: UsageBy,
  priced: (provider: string, model: string) => boolean
): UsageReport => {
  const groups = new Map<string, MutableTotals>()
  const unpriced = new Set<string>()
  for (const rollup of rollups) {
    const key = groupKey[by](rollup)
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = emptyTotals())
    add(group, rollup)
    if (rollup.model !== "" && !priced(rollup.provider, rollup.model)) unpriced.add(rollup.model)
  }
  const ordered: Array<UsageGroup> = [...groups].map(([key, totals]) => ({ key, ...rounded(totals) }))
  ordered.sort(
    by === "hour" || by === "day"
      ? (a, b) => (a.key < b.key ? -1 : 1)
      : (a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests || (a.key < b.key ? -1 : 1)
  )
  return {
    since: new Date(window.since).toISOString(),
    until: new Date(window.until).toISOString(),
    by,
    total: totalsOf(rollups),
    groups: ordered,
    unpriced_models: [...unpriced].sort()
  }
}
