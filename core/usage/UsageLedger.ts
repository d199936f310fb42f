import { Context, type Effect } from "effect"
import type { UsageNote } from "./recorder.ts"
import type { UsageBy, UsageFamily, UsageLayer, UsageReport, UsageRow, UsageTotals } from "./UsageRow.ts"

/** A window of the ledger, in milliseconds since the epoch: `since` inclusive, `until` exclusive. */
export interface UsageWindow {
  readonly since: number
  readonly until: number
}

/**
 * The usage ledger: every answered request, whatever layer answered. `record` is called on the request path and
 * only buffers (the store is written off the path, in batches); reads sum hourly rollups. With Redis the rollups
 * are shared by every replica, so a deployment has one ledger.
 */
export class UsageLedger extends Context.Service<UsageLedger, {
  /** Buffers one answered request's row; never fails, never waits. */
  readonly record: (row: UsageRow) => void
  /**
   * Buffers one answered request, its note and how its answer went out (the provider that answered, "" for none;
   * the latency to its headers; when, in ms since the epoch): the same as `record` of its row, but the row is built
   * only if it is read (see core/usage/ledger.ts).
   */
  readonly recordNote: (
    note: UsageNote,
    family: UsageFamily,
    layer: UsageLayer,
    provider: string,
    status: number,
    latencyMs: number,
    at: number
  ) => void
  readonly report: (window: UsageWindow, by: UsageBy) => Effect.Effect<UsageReport>
  readonly totals: (window: UsageWindow) => Effect.Effect<UsageTotals>
  /** The last requests' rows, newest first (at most 1,000). */
  readonly recent: (limit: number) => Effect.Effect<ReadonlyArray<UsageRow>>
  /** Called with each row as it is recorded (the admin API's live events); returns the unsubscribe. */
  readonly subscribe: (listener: (row: UsageRow) => void) => () => void
  /** Writes what is buffered now (on shutdown, and for tests). */
  readonly flush: Effect.Effect<void>
}>()("isartor/UsageLedger") {}
