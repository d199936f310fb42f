import type { ExportResult } from "@opentelemetry/core"
import { BatchLogRecordProcessor, LoggerProvider, type ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import {
  batchQueue,
  countingFailures,
  countingLogRecords,
  countingSpans,
  dropCounter
} from "../../runtimes/otlpDrops.ts"

const QUEUE = 64
const BATCH = { maxQueueSize: QUEUE, maxExportBatchSize: 16, scheduledDelayMillis: 60_000, exportTimeoutMillis: 60_000 }

/** A collector that takes each export and answers only when told to, counting what it received. */
const heldCollector = <Item>() => {
  const held: Array<(result: ExportResult) => void> = []
  let received = 0
  return {
    exporter: {
      export: (items: Array<Item>, done: (result: ExportResult) => void) => {
        received += items.length
        held.push(done)
      },
      shutdown: async () => undefined
    },
    release: () => {
      for (const done of held.splice(0)) done({ code: 0 })
    },
    received: () => received
  }
}

/** Flushes the batch, answering the collector's held exports until it has `expected` items (or gives up). */
const drain = async (
  batch: { forceFlush(): Promise<void> },
  collector: { release(): void; received(): number },
  expected: number
) => {
  const flushed = batch.forceFlush()
  for (let turn = 0; turn < 1000 && collector.received() < expected; turn++) {
    collector.release()
    await new Promise((resolve) => setImmediate(resolve))
  }
  collector.release()
  await flushed
}

const counters = () => {
  const drops = { count: 0 }
  const warnings: Array<string> = []
  return {
    drops,
    warnings,
    dropped: dropCounter({ warn: (line) => warnings.push(line) }, "http://127.0.0.1:4318", drops)
  }
}

describe("OTLP drops, counted by the gateway's own code", () => {
  it("spans past a full export queue are counted as dropped, and only those", async () => {
    const { drops, warnings, dropped } = counters()
    const collector = heldCollector<ReadableSpan>()
    const queue = batchQueue(QUEUE)
    const batch = new BatchSpanProcessor(countingFailures(collector.exporter, "span(s)", dropped, queue), BATCH)
    const provider = new BasicTracerProvider({ spanProcessors: [countingSpans(batch, dropped, queue)] })
    const tracer = provider.getTracer("test")
    // The first full batch goes to the (slow) collector; the queue then fills behind it, and 10 more have no room.
    const ended = BATCH.maxExportBatchSize + QUEUE + 10
    for (let i = 0; i < ended; i++) tracer.startSpan(`span ${i}`).end()
    assert.equal(drops.count, 10)
    assert.equal(warnings.length, 1, "one warning, rate-limited")
    assert.match(warnings[0]!, /span\(s\) dropped \(export queue full\)/)
    await drain(batch, collector, ended - drops.count)
    await provider.shutdown()
    assert.equal(collector.received(), ended - drops.count, "every span not counted as dropped reached the collector")
    // After the queue drained, spans are queued again, not counted.
    assert.equal(queue.waiting, 0)
  })

  it("log records past a full export queue are counted as dropped", async () => {
    const { drops, dropped } = counters()
    const collector = heldCollector<ReadableLogRecord>()
    const queue = batchQueue(QUEUE)
    const batch = new BatchLogRecordProcessor({
      exporter: countingFailures(collector.exporter, "log record(s)", dropped, queue),
      ...BATCH
    })
    const provider = new LoggerProvider({ processors: [countingLogRecords(batch, dropped, queue)] })
    const logger = provider.getLogger("test")
    const emitted = BATCH.maxExportBatchSize + QUEUE + 7
    for (let i = 0; i < emitted; i++) {
      logger.emit({ body: `line ${i}` })
      // The batch hands its first full batch to the collector a few microtasks after taking it off its queue.
      if (i === BATCH.maxExportBatchSize - 1) await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(drops.count, 7)
    await drain(batch, collector, emitted - drops.count)
    await provider.shutdown()
    assert.equal(collector.received(), emitted - drops.count, "every record not counted as dropped was exported")
  })
})
