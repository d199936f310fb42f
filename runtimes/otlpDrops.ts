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
 * A batch's queue, as seen from outside it: what was handed to the batch and not yet to its exporter. A batch drops
 * what does not fit without telling, so the gateway counts its own. A batch takes items off its queue at most a few
 * microtasks before it hands them to the exporter (a flush on shutdown: before each batch), so this count is never
 * below the queue's length: a full queue is always seen, and only items that arrive in that gap can be miscounted.
 */
export interface BatchQueue {
  readonly size: number
  waiting: number
  closed: boolean
}

export const batchQueue = (size: number): BatchQueue => ({ size, waiting: 0, closed: false })

/** An item handed to the batch: queued, or when the queue is full, dropped by the batch and counted here. */
const arrive = (queue: BatchQueue, what: string, drops: Drops) => {
  // A stopped batch takes nothing more in, and drops nothing either.
  if (queue.closed) return
  if (queue.waiting >= queue.size) drops.drop(1, what, "export queue full")
  else queue.waiting++
}

interface ItemExporter<Item> {
  export(items: Array<Item>, done: (result: ExportResult) => void): void
  shutdown(): Promise<void>
  forceFlush?(): Promise<void>
}

/** An exporter of spans or log records: what it is handed leaves the queue, and its failed exports count as drops. */
export const countingFailures = <Item>(
  exporter: ItemExporter<Item>,
  what: string,
  drops: Drops,
  queue: BatchQueue
) => ({
  export: (items: Array<Item>, done: (result: ExportResult) => void) => {
    queue.waiting = Math.max(0, queue.waiting - items.length)
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
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) arrive(queue, "span(s)", drops)
    batch.onEnd(span)
  },
  forceFlush: () => batch.forceFlush(),
  shutdown: () => {
    queue.closed = true
    return batch.shutdown()
  }
})

/** A batch of log records whose overflow is counted. */
export const countingLogRecords = (
  batch: LogRecordProcessor,
  drops: Drops,
  queue: BatchQueue
): LogRecordProcessor => ({
  onEmit: (record: ReadWriteLogRecord, context?: OtelContext) => {
    arrive(queue, "log record(s)", drops)
    batch.onEmit(record, context)
  },
  forceFlush: () => batch.forceFlush(),
  shutdown: () => {
    queue.closed = true
    return batch.shutdown()
  }
})
