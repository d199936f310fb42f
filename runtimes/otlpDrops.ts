import { type Context as OtelContext, TraceFlags } from "@opentelemetry/api"
import type { ExportResult } from "@opentelemetry/core"
import type { LogRecordProcessor, ReadWriteLogRecord } from "@opentelemetry/sdk-logs"
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { makeReportThrottle } from "../core/observability/reportThrottle.ts"
import type { TelemetrySettings } from "../core/observability/Telemetry.ts"

const WARNING_INTERVAL_MS = 60_000

/** Counts what is dropped, for `isartor_otel_dropped_total`, and warns about it at most once a minute. */
export const dropCounter = (settings: Pick<TelemetrySettings, "warn">, base: string, drops: { count: number }) => {
  const throttle = makeReportThrottle(WARNING_INTERVAL_MS)
  const drop = (count: number, what: string, reason: string) => {
    drops.count += count
    if (throttle("drop", Date.now()) === undefined) return
    settings.warn(
      `OTLP export to ${base} failed: ${count} ${what} dropped (${reason}); requests are unaffected; next warning in 60 s at the earliest`
    )
  }
  const counted = (result: ExportResult, count: number, what: string) => {
    if (result.code !== 0) drop(count, what, result.error?.message ?? "export failed")
  }
  return { drop, counted }
}
export type Drops = ReturnType<typeof dropCounter>

/**
 * A batch's queue, as seen from outside it: a batch drops what does not fit without telling, so the gateway counts
 * its own. `waiting` counts the items counted in and not yet known to have left the queue. The batch takes items off
 * its queue oldest first, so once it hands one to the exporter, every item counted in before it has left; a flush
 * takes the whole queue at once. So `waiting` is never below the counted-in items still queued. It is above them
 * while items taken off are not yet handed over (a few microtasks; longer while a resource's asynchronous attributes
 * are awaited; for a batch whose export never comes, until a later batch's does): an item arriving then, with
 * `waiting` at the size, is counted as dropped though the batch queues it, and while it stays queued one real drop
 * can be counted in instead. The items of a batch whose export never comes are not counted as dropped.
 */
export const batchQueue = (size: number) => {
  // Each item counted in, by its place in arrival order; a weak map, so exported items are not kept.
  const order = new WeakMap<object, number>()
  let lastCounted = 0
  let leftUpTo = 0
  let flushing = false
  let closed = false
  return {
    get waiting() {
      return lastCounted - leftUpTo
    },
    /** True when the batch queues the item: counted in, unless the batch is stopped (it then takes nothing in). */
    admits(item: object): boolean {
      if (closed) return true
      if (lastCounted - leftUpTo >= size) return false
      order.set(item, ++lastCounted)
      return true
    },
    /** The exporter is handed these items: they, and every item counted in before them, have left the queue. */
    exported(items: ReadonlyArray<object>) {
      for (const item of items) leftUpTo = Math.max(leftUpTo, order.get(item) ?? 0)
    },
    /**
     * Runs the batch's flush, which takes its whole queue in the call — unless a flush is already running: the log
     * batch's then returns at once and leaves queued what arrived since.
     */
    flush(run: () => Promise<void>): Promise<void> {
      if (flushing) return run()
      flushing = true
      try {
        const flushed = run()
        leftUpTo = lastCounted
        return flushed.finally(() => {
          flushing = false
        })
      } catch (error) {
        flushing = false
        throw error
      }
    },
    /** The batch stops: it flushes what it holds and takes nothing more in, so it drops nothing either. */
    close(run: () => Promise<void>): Promise<void> {
      closed = true
      leftUpTo = lastCounted
      return run()
    }
  }
}
export type BatchQueue = ReturnType<typeof batchQueue>

/** An item handed to the batch: queued, or when the queue is full, dropped by the batch and counted here. */
const arrive = (queue: BatchQueue, item: object, what: string, drops: Drops) => {
  if (!queue.admits(item)) drops.drop(1, what, "export queue full")
}

interface ItemExporter<Item> {
  export(items: Array<Item>, done: (result: ExportResult) => void): void
  shutdown(): Promise<void>
  forceFlush?(): Promise<void>
}

/** An exporter of spans or log records: what it is handed leaves the queue, and its failed exports count as drops. */
export const countingFailures = <Item extends object>(
  exporter: ItemExporter<Item>,
  what: string,
  drops: Drops,
  queue: BatchQueue
) => ({
  export: (items: Array<Item>, done: (result: ExportResult) => void) => {
    queue.exported(items)
    exporter.export(items, (result) => {
      drops.counted(result, items.length, what)
      done(result)
    })
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve()
})

/** A batch of spans whose overflow is counted; it queues only sampled spans, so only those are counted in. */
export const countingSpans = (batch: SpanProcessor, drops: Drops, queue: BatchQueue): SpanProcessor => ({
  onStart: (span: Span, parent: OtelContext) => batch.onStart(span, parent),
  onEnd: (span: ReadableSpan) => {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) arrive(queue, span, "span(s)", drops)
    batch.onEnd(span)
  },
  forceFlush: () => queue.flush(() => batch.forceFlush()),
  shutdown: () => queue.close(() => batch.shutdown())
})

/** A batch of log records whose overflow is counted. */
export const countingLogRecords = (
  batch: LogRecordProcessor,
  drops: Drops,
  queue: BatchQueue
): LogRecordProcessor => ({
  onEmit: (record: ReadWriteLogRecord, context?: OtelContext) => {
    arrive(queue, record, "log record(s)", drops)
    batch.onEmit(record, context)
  },
  forceFlush: () => queue.flush(() => batch.forceFlush()),
  shutdown: () => queue.close(() => batch.shutdown())
})
