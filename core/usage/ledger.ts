import { Clock, Effect, Layer, Semaphore } from "effect"
import { messageOf } from "../domain/errors.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"
import { PendingRollups } from "./pendingRollups.ts"
import { pricesOf } from "./prices.ts"
import { RecentRing } from "./recentRing.ts"
import type { UsageNote, UsageRows } from "./recorder.ts"
import { makeUsageRows } from "./recorder.ts"
import { reportOf, totalsOf } from "./report.ts"
import { UsageLedger } from "./UsageLedger.ts"
import type { UsageFamily, UsageLayer, UsageRow } from "./UsageRow.ts"
import { RECENT_ROWS, type UsageStore } from "./UsageStore.ts"

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
  /** How a request's note becomes its row (`recordNote`); unset, the shipped prices and nothing masked. */
  readonly rows?: UsageRows
  /**
   * The input tokens of a request body in its client's format (`family`), estimated: asked for an answer that carried
   * no usage before its note is recorded. Unset, such an answer's input counts 0.
   */
  readonly estimateInput?: (body: Readonly<Record<string, unknown>>, family: UsageFamily) => Promise<number>
}

/** What the store threw, out of the error `Effect.tryPromise` wraps it in. */
const causeOf = (error: unknown) => error instanceof Error && error.cause !== undefined ? error.cause : error

/** What the ledger's parts share: where requests are summed and kept until a flush takes them. */
interface Buffers {
  readonly pending: PendingRollups
  readonly ring: RecentRing
  readonly rows: UsageRows
  /** Notes waiting for their input estimate: a flush (and so a read) waits for them. */
  readonly estimating: Set<Promise<void>>
  readonly listeners: Set<(row: UsageRow) => void>
}

/** A warning per kind of failure, at most once per interval, with how many there were. */
const makeWarn = () => {
  const throttle = makeReportThrottle(WARNING_INTERVAL_MS)
  return (what: string, error: unknown) =>
    Effect.suspend(() => {
      const count = throttle(what, Date.now())
      return count === undefined
        ? Effect.void
        : Effect.logWarning(`usage ledger: ${what} failed (${count} time(s)): ${messageOf(causeOf(error))}`)
    })
}
type Warn = ReturnType<typeof makeWarn>

/**
 * Writes what is buffered: the rollups summed and the last rows (made rows now), one batch, one at a time. A batch
 * the store refuses is kept for the next (its rows the last ones, its rollups merged back); retention is applied at
 * most once an interval.
 */
const makeFlush = (options: LedgerOptions, buffers: Buffers, warn: Warn) =>
  Effect.gen(function*() {
    const { store } = options
    const { estimating, pending, ring } = buffers
    const writing = yield* Semaphore.make(1)
    const settled = Effect.promise(() => Promise.all(estimating))
    // Rows a flush could not write, kept (the last ones) for the next.
    let backlog: Array<UsageRow> = []
    let prunedAt = Number.NEGATIVE_INFINITY
    const prune = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - prunedAt < PRUNE_EVERY_MS) return
      prunedAt = now
      yield* Effect.tryPromise(() => store.prune(now - options.retentionMs)).pipe(
        Effect.catch((error) => warn("pruning", error))
      )
    })
    return writing.withPermits(1)(Effect.gen(function*() {
      // A note waiting for its estimate is among the last rows already: it is written once it has it.
      if (estimating.size > 0) yield* settled
      if (pending.size > 0) {
        const taken = ring.takeFresh()
        const batch = backlog.length === 0 ? taken : [...backlog, ...taken].slice(-RECENT_ROWS)
        const rollups = pending.drain()
        backlog = []
        yield* Effect.tryPromise(() => store.append(batch, rollups)).pipe(
          Effect.catch((error) => {
            // Kept for the next flush, newest last, so a store that comes back gets them.
            backlog = batch
            pending.merge(rollups)
            return warn("writing", error)
          })
        )
      }
      yield* prune
    }))
  })

/** Each subscriber told of a row. */
const tellEach = (listeners: Buffers["listeners"], row: UsageRow) => {
  for (const listener of listeners) {
    try {
      listener(row)
    } catch {
      // A subscriber's failure is its own: the request and the other subscribers go on.
    }
  }
}

/** A note measured, summed and written into its slot: nothing of it is kept but the ring's columns. */
const makePut = ({ listeners, pending, ring, rows }: Buffers) =>
(
  slot: number,
  note: UsageNote,
  family: UsageFamily,
  layer: UsageLayer,
  provider: string,
  status: number,
  latencyMs: number,
  at: number
) => {
  const measured = rows.measure(note, layer, provider)
  pending.add(
    at,
    measured.label ?? measured.caller,
    provider,
    measured.model,
    layer,
    status >= 400,
    measured.tokensIn,
    measured.tokensOut,
    measured.costUsd,
    measured.tokensSaved,
    measured.costSavedUsd
  )
  ring.write(slot, measured, family, layer, provider, status, latencyMs, at)
  // Watched, the row is built now; else only if it is among the last at the next flush.
  if (listeners.size > 0) tellEach(listeners, ring.rowAt(slot))
}

/** `record` and `recordNote`: a request summed into its rollup and kept among the last, its subscribers told. */
const makeRecording = (options: LedgerOptions, buffers: Buffers) => {
  const { estimating, listeners, pending, ring, rows } = buffers
  const put = makePut(buffers)
  const record: UsageLedger["Service"]["record"] = (row) => {
    pending.add(
      row.at,
      row.label ?? row.caller,
      row.provider,
      row.model,
      row.layer,
      row.status >= 400,
      row.tokens_in,
      row.tokens_out,
      row.cost_usd,
      row.tokens_saved,
      row.cost_saved_usd
    )
    ring.writeRow(ring.reserve(), row)
    if (listeners.size > 0) tellEach(listeners, row)
  }
  const { estimateInput } = options
  const recordNote: UsageLedger["Service"]["recordNote"] = (note, family, layer, provider, status, latencyMs, at) => {
    const slot = ring.reserve()
    if (estimateInput === undefined || !rows.needsEstimate(note, layer, status)) {
      return put(slot, note, family, layer, provider, status, latencyMs, at)
    }
    // Kept in its place among the last requests now; summed, written and told once its input is estimated.
    const ticket = ring.ticketOf(slot)
    const estimated = estimateInput(note.body!, family).then(
      (estimate) => void (note.inputEstimate = estimate),
      () => void (note.inputEstimate = 0)
    ).then(() => {
      estimating.delete(estimated)
      note.body = undefined
      put(ring.writable(slot, ticket), note, family, layer, provider, status, latencyMs, at)
    })
    estimating.add(estimated)
  }
  return { record, recordNote }
}

/**
 * The ledger over a store: `record` and `recordNote` only add to the request's rollup and keep the request among the
 * last ones (telling the subscribers); a background fiber of the gateway writes them every second, and once more
 * when the gateway stops. A note becomes a row only when one is read: the last `RECENT_ROWS` at a flush, or each one
 * at once while someone subscribes. Reads write what is buffered first, so a report includes the request just
 * answered. The flush carries one rollup per identity and at most `RECENT_ROWS` rows, however many requests came in
 * (or while the store was down).
 */
export const makeLedger = (options: LedgerOptions) =>
  Effect.gen(function*() {
    const { store } = options
    const rows = options.rows ??
      makeUsageRows({ prices: pricesOf({ pricing: {}, model_prices: [] }), mask: (text) => text })
    const listeners = new Set<(row: UsageRow) => void>()
    const buffers: Buffers = {
      pending: new PendingRollups(),
      ring: new RecentRing(rows.mask),
      rows,
      estimating: new Set(),
      listeners
    }
    const warn = makeWarn()
    const flush = yield* makeFlush(options, buffers, warn)
    yield* Effect.addFinalizer(() => flush)
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(FLUSH_EVERY_MS), flush)))
    const read = <A>(what: string, query: () => Promise<A>, fallback: A) =>
      Effect.andThen(
        flush,
        Effect.tryPromise(query).pipe(Effect.catch((error) => Effect.as(warn(what, error), fallback)))
      )
    const rollups = (window: Parameters<UsageStore["rollups"]>[0]) => read("reading", () => store.rollups(window), [])
    return UsageLedger.of({
      ...makeRecording(options, buffers),
      report: (window, by) => Effect.map(rollups(window), (found) => reportOf(found, window, by, options.priced)),
      totals: (window) => Effect.map(rollups(window), totalsOf),
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
    recordNote: () => undefined,
    report: (window, by) => Effect.succeed(reportOf([], window, by, () => true)),
    totals: () => Effect.succeed(totalsOf([])),
    recent: () => Effect.succeed([]),
    subscribe: () => () => undefined,
    flush: Effect.void
  })
)
