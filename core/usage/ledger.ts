import { Clock, Effect, Layer, Semaphore } from "effect"
import { messageOf } from "../domain/errors.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"
import { reportOf, totalsOf } from "./report.ts"
import { UsageLedger } from "./UsageLedger.ts"
import type { UsageRow } from "./UsageRow.ts"
import { addToRollups, mergeRollups, RECENT_ROWS, type RollupSums, type UsageStore } from "./UsageStore.ts"

/** How often buffered rows are written: at most this much is lost when the process is killed. */
export const FLUSH_EVERY_MS = 1000
/** How often rollups past the retention are forgotten. */
const PRUNE_EVERY_MS = 3_600_000
const WARNING_INTERVAL_MS = 30_000

export interface LedgerOptions {
  readonly store: UsageStore
  /** Rollups and rows older than this are forgotten. */
  readonly retentionMs: number
  /** Whether a provider's model has a price (the report lists those that answered without one). */
  readonly priced: (provider: string, model: string) => boolean
}

/**
 * The ledger over a store: `record` only adds a row to its rollup and to the last rows (and tells the subscribers);
 * a background fiber of the gateway's writes them every second, and once more when the gateway stops. Reads write
 * what is buffered first, so a report includes the request just answered. Summing as it records, the flush carries
 * one rollup per identity and at most twice `RECENT_ROWS` rows, however many requests came in (or while the store
 * was down): no row outlives the next ones for long, and the flush does little on the loop.
 */
export const makeLedger = (options: LedgerOptions) =>
  Effect.gen(function*() {
    const { store } = options
    let buffer: Array<UsageRow> = []
    let pending: RollupSums = new Map()
    const listeners = new Set<(row: UsageRow) => void>()
    const writing = yield* Semaphore.make(1)
    const throttle = makeReportThrottle(WARNING_INTERVAL_MS)
    let prunedAt = Number.NEGATIVE_INFINITY

    const warn = (what: string, error: unknown) =>
      Effect.suspend(() => {
        const count = throttle(what, Date.now())
        return count === undefined
          ? Effect.void
          : Effect.logWarning(`usage ledger: ${what} failed (${count} time(s)): ${messageOf(error)}`)
      })

    const prune = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - prunedAt < PRUNE_EVERY_MS) return
      prunedAt = now
      yield* Effect.tryPromise(() => store.prune(now - options.retentionMs)).pipe(
        Effect.catch((error) => warn("pruning", error))
      )
    })

    const flush = writing.withPermits(1)(Effect.gen(function*() {
      if (pending.size > 0) {
        const rows = buffer.length > RECENT_ROWS ? buffer.slice(-RECENT_ROWS) : buffer
        const rollups = [...pending.values()]
        buffer = []
        pending = new Map()
        yield* Effect.tryPromise(() => store.append(rows, rollups)).pipe(
          Effect.catch((error) => {
            // Kept for the next flush, newest last, so a store that comes back gets them.
            buffer = [...rows, ...buffer].slice(-RECENT_ROWS)
            mergeRollups(pending, rollups)
            return warn("writing", error)
          })
        )
      }
      yield* prune
    }))

    yield* Effect.addFinalizer(() => flush)
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(FLUSH_EVERY_MS), flush)))

    const read = <A>(what: string, query: () => Promise<A>, fallback: A) =>
      Effect.andThen(
        flush,
        Effect.tryPromise(query).pipe(Effect.catch((error) => Effect.as(warn(what, error), fallback)))
      )

    return UsageLedger.of({
      record: (row) => {
        addToRollups(pending, row)
        buffer.push(row)
        // Only the last rows are written: trimmed once in a while, not per request.
        if (buffer.length >= 2 * RECENT_ROWS) buffer = buffer.slice(-RECENT_ROWS)
        for (const listener of listeners) {
          try {
            listener(row)
          } catch {
            // A subscriber's failure is its own: the request and the other subscribers go on.
          }
        }
      },
      report: (window, by) =>
        Effect.map(
          read("reading", () => store.rollups(window), []),
          (rollups) => reportOf(rollups, window, by, options.priced)
        ),
      totals: (window) => Effect.map(read("reading", () => store.rollups(window), []), totalsOf),
      recent: (limit) =>
        read("reading", () => store.recent(Math.max(0, Math.min(limit, RECENT_ROWS))), [] as ReadonlyArray<UsageRow>),
      subscribe: (listener) => {
        listeners.add(listener)
        return () => void listeners.delete(listener)
      },
      flush
    })
  })

export const ledgerLayer = (options: LedgerOptions) => Layer.effect(UsageLedger, makeLedger(options))

/** `usage_ledger = false`: nothing is recorded, and reports are empty. */
export const ledgerDisabled = Layer.succeed(
  UsageLedger,
  UsageLedger.of({
    record: () => undefined,
    report: (window, by) => Effect.succeed(reportOf([], window, by, () => true)),
    totals: () => Effect.succeed(totalsOf([])),
    recent: () => Effect.succeed([]),
    subscribe: () => () => undefined,
    flush: Effect.void
  })
)
