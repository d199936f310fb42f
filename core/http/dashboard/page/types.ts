/**
 * What the page reads from the admin API (docs/admin-api.md). The usage rows and reports are the ledger's own types;
 * the overview is written out here as the page reads it, every part optional that a gateway may leave out.
 */
import type { EntryView } from "../../../cache/CacheEntry.ts"
import type { UsageLayer, UsageReport, UsageRow, UsageTotals } from "../../../usage/UsageRow.ts"

export type { EntryView, UsageLayer, UsageReport, UsageRow, UsageTotals }

export interface Deflection {
  readonly rate: number
  readonly layers: Readonly<Partial<Record<UsageLayer, number>>>
}

export interface LatencyStat {
  readonly p50: number
  readonly p99: number
  readonly count: number
}

export interface ProviderHealth {
  readonly id: string
  readonly model: string
  readonly status: string
  readonly requests: number
  readonly errors: number
  readonly retries: number
  readonly rate_limited: number
  readonly last_error: string | null
}

export interface ConfigValue {
  readonly key: string
  readonly value: unknown
  readonly source: string
}

export interface Overview {
  readonly version: string
  readonly runtime?: string
  readonly uptime_secs: number
  readonly now?: string
  readonly deflection: { readonly now: Deflection; readonly "24h"?: Deflection; readonly "7d"?: Deflection }
  readonly today?: UsageTotals
  readonly totals: { readonly "24h": UsageTotals; readonly "7d"?: UsageTotals }
  readonly latency_ms?: Readonly<Partial<Record<UsageLayer, LatencyStat>>>
  readonly cache?: Readonly<Partial<Record<"l1a" | "l1b", { readonly entries: number; readonly bytes: number }>>>
  readonly providers?: ReadonlyArray<ProviderHealth>
  readonly l2?: { readonly status: string; readonly [detail: string]: unknown }
  readonly warnings?: ReadonlyArray<string>
  readonly config?: ReadonlyArray<ConfigValue>
}
