import type { UsageWindow } from "./UsageLedger.ts"
import type { UsageLayer, UsageRow } from "./UsageRow.ts"

/** Rows kept for `recent` (the admin API's last requests). */
export const RECENT_ROWS = 1000

export const HOUR_MS = 3_600_000

/** One hour of one caller's requests to one provider and model, answered by one layer: what reports sum. */
export interface UsageRollup {
  /** The hour's start, in milliseconds since the epoch (UTC). */
  readonly hour: number
  /** The caller's label, else its scope hash. */
  readonly caller: string
  readonly provider: string
  readonly model: string
  readonly layer: UsageLayer
  readonly requests: number
  readonly errors: number
  readonly tokens_in: number
  readonly tokens_out: number
  readonly cost_usd: number
  readonly tokens_saved: number
  readonly cost_saved_usd: number
}

/**
 * Where the ledger keeps its rows: in memory, in an embedded database (the runtimes'), or in Redis (shared by every
 * replica). Written in batches, off the request path; a store that fails degrades the ledger, never a request.
 */
export interface UsageStore {
  /**
   * Adds a batch of rows to their hourly rollups and to the recent rows (at most `RECENT_ROWS` kept). `rollups`:
   * the batch's rollups when the caller summed them as it went (the ledger); then `rows` may be only its last rows.
   */
  readonly append: (rows: ReadonlyArray<UsageRow>, rollups?: ReadonlyArray<UsageRollup>) => Promise<void>
  /** The rollups whose hour starts in the window (its `since` rounded down to the hour). */
  readonly rollups: (window: UsageWindow) => Promise<ReadonlyArray<UsageRollup>>
  /** The last rows, newest first. */
  readonly recent: (limit: number) => Promise<ReadonlyArray<UsageRow>>
  /** Forgets rollups and rows older than `before` (ms since the epoch). */
  readonly prune: (before: number) => Promise<void>
  readonly close?: () => Promise<void>
}

export const hourOf = (at: number) => at - (at % HOUR_MS)

/** A row's rollup identity: hour × caller (label, else scope hash) × provider × model × layer. */
export const rollupIdentity = (row: UsageRow) => ({
  hour: hourOf(row.at),
  caller: row.label ?? row.caller,
  provider: row.provider,
  model: row.model,
  layer: row.layer
})

/** The identity as one string (NUL never occurs in a label, a hash, a provider id or a model name). */
export const rollupKey = (rollup: Pick<UsageRollup, "hour" | "caller" | "provider" | "model" | "layer">) =>
  keyOf(rollup.hour, rollup.caller, rollup.provider, rollup.model, rollup.layer)

const keyOf = (hour: number, caller: string, provider: string, model: string, layer: UsageLayer) =>
  `${hour}\u0000${caller}\u0000${provider}\u0000${model}\u0000${layer}`

export const rollupFromKey = (key: string): Pick<UsageRollup, "hour" | "caller" | "provider" | "model" | "layer"> => {
  const [hour, caller, provider, model, layer] = key.split("\u0000")
  return { hour: Number(hour), caller: caller!, provider: provider!, model: model!, layer: layer as UsageLayer }
}

/** What one row adds to its rollup's sums. */
export const sumsOf = (row: UsageRow) => ({
  requests: 1,
  errors: row.status >= 400 ? 1 : 0,
  tokens_in: row.tokens_in,
  tokens_out: row.tokens_out,
  cost_usd: row.cost_usd,
  tokens_saved: row.tokens_saved,
  cost_saved_usd: row.cost_saved_usd
})

export type UsageSums = ReturnType<typeof sumsOf>
type Summed = { -readonly [K in keyof UsageRollup]: UsageRollup[K] }

const addSums = (into: Summed, sums: UsageSums) => {
  for (const field of SUM_FIELDS) into[field] += sums[field]
}
export const SUM_FIELDS = [
  "requests",
  "errors",
  "tokens_in",
  "tokens_out",
  "cost_usd",
  "tokens_saved",
  "cost_saved_usd"
] as const satisfies ReadonlyArray<keyof UsageSums>

/** Rollups being summed, by identity (see `addToRollups`). */
export type RollupSums = Map<string, Summed>

/**
 * Adds a row to the rollups being summed: the ledger does it as it records (so a flush carries rollups, not every
 * row), so a row builds nothing but its key; a rollup's object is built once, by its first row.
 */
export const addToRollups = (found: RollupSums, row: UsageRow): void => {
  const key = keyOf(hourOf(row.at), row.label ?? row.caller, row.provider, row.model, row.layer)
  const known = found.get(key)
  if (known === undefined) {
    found.set(key, { ...rollupIdentity(row), ...sumsOf(row) })
    return
  }
  known.requests += 1
  known.errors += row.status >= 400 ? 1 : 0
  known.tokens_in += row.tokens_in
  known.tokens_out += row.tokens_out
  known.cost_usd += row.cost_usd
  known.tokens_saved += row.tokens_saved
  known.cost_saved_usd += row.cost_saved_usd
}

/** Adds rollups summed elsewhere (a batch a store did not take) to the rollups being summed. */
export const mergeRollups = (into: RollupSums, rollups: ReadonlyArray<UsageRollup>): void => {
  for (const rollup of rollups) {
    const key = rollupKey(rollup)
    const known = into.get(key)
    if (known === undefined) into.set(key, { ...rollup })
    else addSums(known, rollup)
  }
}

/** A batch of rows as the rollups it adds to, one per identity: a store writes each once. */
export const rollupsOf = (rows: ReadonlyArray<UsageRow>): ReadonlyArray<UsageRollup> => {
  const found: RollupSums = new Map()
  for (const row of rows) addToRollups(found, row)
  return [...found.values()]
}

/** The memory store: the default, for one process; gone when it stops. */
export const makeMemoryStore = (): UsageStore => {
  const rollups = new Map<string, Summed>()
  let recent: Array<UsageRow> = []
  return {
    append: async (rows, summed) => {
      mergeRollups(rollups, summed ?? rollupsOf(rows))
      // Only the last rows can be kept: a batch held while a store was down can be far longer than that.
      for (const row of rows.length > RECENT_ROWS ? rows.slice(-RECENT_ROWS) : rows) recent.push(row)
      if (recent.length > 2 * RECENT_ROWS) recent = recent.slice(-RECENT_ROWS)
    },
    rollups: async ({ since, until }) =>
      [...rollups.values()].filter((rollup) => rollup.hour >= hourOf(since) && rollup.hour < until),
    recent: async (limit) => limit <= 0 ? [] : recent.slice(-Math.min(limit, RECENT_ROWS)).reverse(),
    prune: async (before) => {
      for (const [key, rollup] of rollups) if (rollup.hour < hourOf(before)) rollups.delete(key)
      recent = recent.filter((row) => row.at >= before)
    }
  }
}
