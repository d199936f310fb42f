import { Clock, Effect, Layer, Semaphore } from "effect"
import { messageOf } from "../domain/errors.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"
import { pricesOf } from "./prices.ts"
import type { AddToRollup, UsageNote, UsageRows } from "./recorder.ts"
import { makeUsageRows } from "./recorder.ts"
import { reportOf, totalsOf } from "./report.ts"
import { UsageLedger } from "./UsageLedger.ts"
import type { UsageFamily, UsageLayer, UsageRow } from "./UsageRow.ts"
import { hourOf, RECENT_ROWS, type UsageRollup, type UsageStore } from "./UsageStore.ts"

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
   * The input tokens of a request body, estimated: asked for an answer that carried no usage before its note is
   * recorded. Unset, such an answer's input counts 0.
   */
  readonly estimateInput?: (body: Readonly<Record<string, unknown>>) => Promise<number>
}

type Sums = { -readonly [K in keyof UsageRollup]: UsageRollup[K] }

/**
 * Rollups summed between flushes, found again by hour, then caller, then a scan of that caller's few provider ×
 * model × layer sums: a request adds to its rollup without building a key.
 */
class PendingRollups {
  private byHour = new Map<number, Map<string, Array<Sums>>>()
  private lastHour = Number.NaN
  private lastCallers: Map<string, Array<Sums>> | undefined = undefined
  size = 0

  readonly add: AddToRollup = (
    at,
    caller,
    provider,
    model,
    layer,
    failed,
    tokensIn,
    tokensOut,
    cost,
    saved,
    costSaved
  ) => {
    const hour = hourOf(at)
    let callers = this.lastCallers
    if (hour !== this.lastHour || callers === undefined) {
      callers = this.byHour.get(hour)
      if (callers === undefined) this.byHour.set(hour, callers = new Map())
      this.lastHour = hour
      this.lastCallers = callers
    }
    let sums = callers.get(caller)
    if (sums === undefined) callers.set(caller, sums = [])
    const known = findSums(sums, provider, model, layer)
    if (known === undefined) {
      this.size++
      sums.push({
        hour,
        caller,
        provider,
        model,
        layer,
        requests: 1,
        errors: failed ? 1 : 0,
        tokens_in: tokensIn,
        tokens_out: tokensOut,
        cost_usd: cost,
        tokens_saved: saved,
        cost_saved_usd: costSaved
      })
      return
    }
    known.requests += 1
    if (failed) known.errors += 1
    known.tokens_in += tokensIn
    known.tokens_out += tokensOut
    known.cost_usd += cost
    known.tokens_saved += saved
    known.cost_saved_usd += costSaved
  }

  /** Adds rollups summed before (a batch the store did not take). */
  merge(rollups: ReadonlyArray<UsageRollup>): void {
    for (const rollup of rollups) {
      const hour = hourOf(rollup.hour)
      let callers = this.byHour.get(hour)
      if (callers === undefined) this.byHour.set(hour, callers = new Map())
      let sums = callers.get(rollup.caller)
      if (sums === undefined) callers.set(rollup.caller, sums = [])
      const known = findSums(sums, rollup.provider, rollup.model, rollup.layer)
      if (known === undefined) {
        this.size++
        sums.push({ ...rollup })
      } else {
        known.requests += rollup.requests
        known.errors += rollup.errors
        known.tokens_in += rollup.tokens_in
        known.tokens_out += rollup.tokens_out
        known.cost_usd += rollup.cost_usd
        known.tokens_saved += rollup.tokens_saved
        known.cost_saved_usd += rollup.cost_saved_usd
      }
    }
  }

  /** Every rollup summed, and a fresh start. */
  drain(): Array<UsageRollup> {
    const drained: Array<UsageRollup> = []
    for (const callers of this.byHour.values()) for (const sums of callers.values()) drained.push(...sums)
    this.byHour = new Map()
    this.lastHour = Number.NaN
    this.lastCallers = undefined
    this.size = 0
    return drained
  }
}

const findSums = (sums: Array<Sums>, provider: string, model: string, layer: UsageLayer) => {
  for (const known of sums) {
    if (known.provider === provider && known.model === model && known.layer === layer) return known
  }
  return undefined
}

/** What the store threw, out of the error `Effect.tryPromise` wraps it in. */
const causeOf = (error: unknown) => error instanceof Error && error.cause !== undefined ? error.cause : error

const isNote = (entry: UsageRow | UsageNote): entry is UsageNote => "tenant" in entry

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
    // The last requests, a ring: `fresh` of them recorded since the last flush (at most its length). A note's facts
    // of how it went out sit beside it, in arrays of their own (nothing allocated per request).
    const recentRing: Array<UsageRow | UsageNote | undefined> = new Array(RECENT_ROWS)
    const sentAt = new Float64Array(RECENT_ROWS)
    const sentLatency = new Float64Array(RECENT_ROWS)
    const sentStatus = new Uint16Array(RECENT_ROWS)
    const sentFamily: Array<UsageFamily> = new Array(RECENT_ROWS).fill("chat")
    const sentLayer: Array<UsageLayer> = new Array(RECENT_ROWS).fill("l3")
    const sentProvider: Array<string> = new Array(RECENT_ROWS).fill("")
    let next = 0
    let fresh = 0
    // Rows a flush could not write, kept (the last ones) for the next.
    let backlog: Array<UsageRow> = []
    let pending = new PendingRollups()
    const listeners = new Set<(row: UsageRow) => void>()
    const writing = yield* Semaphore.make(1)
    const throttle = makeReportThrottle(WARNING_INTERVAL_MS)
    let prunedAt = Number.NEGATIVE_INFINITY

    const warn = (what: string, error: unknown) =>
      Effect.suspend(() => {
        const count = throttle(what, Date.now())
        return count === undefined
          ? Effect.void
          : Effect.logWarning(`usage ledger: ${what} failed (${count} time(s)): ${messageOf(causeOf(error))}`)
      })

    const prune = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - prunedAt < PRUNE_EVERY_MS) return
      prunedAt = now
      yield* Effect.tryPromise(() => store.prune(now - options.retentionMs)).pipe(
        Effect.catch((error) => warn("pruning", error))
      )
    })

    // Notes waiting for their input estimate: a flush (and so a read) waits for them.
    const estimating = new Set<Promise<void>>()
    const settled = Effect.promise(() => Promise.all(estimating))

    /** The rows recorded since the last flush, oldest first, made rows now. */
    const takeFresh = (): Array<UsageRow> => {
      const taken: Array<UsageRow> = []
      for (let index = next - fresh; index < next; index++) {
        const at = (index + RECENT_ROWS) % RECENT_ROWS
        const entry = recentRing[at]!
        taken.push(
          isNote(entry)
            ? rows.row(
              entry,
              sentAt[at]!,
              sentFamily[at]!,
              sentLayer[at]!,
              sentProvider[at]!,
              sentStatus[at]!,
              sentLatency[at]!
            )
            : entry
        )
        recentRing[at] = undefined
      }
      fresh = 0
      return taken
    }

    const flush = writing.withPermits(1)(Effect.gen(function*() {
      // A note waiting for its estimate is among the last rows already: it is written once it has it.
      if (estimating.size > 0) yield* settled
      if (pending.size > 0) {
        const taken = takeFresh()
        const batch = backlog.length === 0 ? taken : [...backlog, ...taken].slice(-RECENT_ROWS)
        const rollups = pending.drain()
        backlog = []
        pending = new PendingRollups()
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

    yield* Effect.addFinalizer(() => flush)
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(FLUSH_EVERY_MS), flush)))

    const read = <A>(what: string, query: () => Promise<A>, fallback: A) =>
      Effect.andThen(
        flush,
        Effect.tryPromise(query).pipe(Effect.catch((error) => Effect.as(warn(what, error), fallback)))
      )

    const keep = (entry: UsageRow | UsageNote) => {
      recentRing[next] = entry
      next = next + 1 === RECENT_ROWS ? 0 : next + 1
      if (fresh < RECENT_ROWS) fresh++
    }
    const keepNote: UsageLedger["Service"]["recordNote"] = (note, family, layer, provider, status, latencyMs, at) => {
      sentAt[next] = at
      sentLatency[next] = latencyMs
      sentStatus[next] = status
      sentFamily[next] = family
      sentLayer[next] = layer
      sentProvider[next] = provider
      keep(note)
    }
    const tell = (row: UsageRow) => {
      for (const listener of listeners) {
        try {
          listener(row)
        } catch {
          // A subscriber's failure is its own: the request and the other subscribers go on.
        }
      }
    }
    const record = (row: UsageRow) => {
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
      keep(row)
      if (listeners.size > 0) tell(row)
    }
    const { estimateInput } = options
    const recordNote: UsageLedger["Service"]["recordNote"] = (note, family, layer, provider, status, latencyMs, at) => {
      if (estimateInput === undefined || !rows.needsEstimate(note, layer, status)) {
        note.body = undefined
        rows.sum(note, at, layer, provider, status, pending.add)
        // Watched, the row is built now (and kept built); else only if it is among the last at the next flush.
        if (listeners.size === 0) return keepNote(note, family, layer, provider, status, latencyMs, at)
        const row = rows.row(note, at, family, layer, provider, status, latencyMs)
        keep(row)
        return tell(row)
      }
      // Kept in its place among the last requests now; summed, and told, once its input is estimated.
      keepNote(note, family, layer, provider, status, latencyMs, at)
      const body = note.body!
      note.body = undefined
      const estimated = estimateInput(body).then(
        (estimate) => void (note.inputEstimate = estimate),
        () => void (note.inputEstimate = 0)
      ).then(() => {
        estimating.delete(estimated)
        rows.sum(note, at, layer, provider, status, pending.add)
        if (listeners.size > 0) tell(rows.row(note, at, family, layer, provider, status, latencyMs))
      })
      estimating.add(estimated)
    }

    return UsageLedger.of({
      record,
      recordNote,
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
    recordNote: () => undefined,
    report: (window, by) => Effect.succeed(reportOf([], window, by, () => true)),
    totals: () => Effect.succeed(totalsOf([])),
    recent: () => Effect.succeed([]),
    subscribe: () => () => undefined,
    flush: Effect.void
  })
)
