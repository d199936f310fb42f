import type { ExportResult } from "@opentelemetry/core"
import { resourceFromAttributes } from "@opentelemetry/resources"
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

/** Answers the collector's held exports until `done` says so (or it gives up). */
const releaseUntil = async (collector: { release(): void }, done: () => boolean) => {
  for (let turn = 0; turn < 1000 && !done(); turn++) {
    collector.release()
    await new Promise((resolve) => setImmediate(resolve))
  }
  collector.release()
}

/** Flushes the batch, answering the collector's held exports until it has `expected` items (or gives up). */
const drain = async (
  batch: { forceFlush(): Promise<void> },
  collector: { release(): void; received(): number },
  expected: number
) => {
  const flushed = batch.forceFlush()
  await releaseUntil(collector, () => collector.received() >= expected)
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
    const processor = countingSpans(batch, dropped, queue)
    const provider = new BasicTracerProvider({ spanProcessors: [processor] })
    const tracer = provider.getTracer("test")
    // The first full batch goes to the (slow) collector; the queue then fills behind it, and 10 more have no room.
    const ended = BATCH.maxExportBatchSize + QUEUE + 10
    for (let i = 0; i < ended; i++) tracer.startSpan(`span ${i}`).end()
    assert.equal(drops.count, 10)
    assert.equal(warnings.length, 1, "one warning, rate-limited")
    assert.match(warnings[0]!, /span\(s\) dropped \(export queue full\)/)
    await drain(processor, collector, ended - drops.count)
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
    const processor = countingLogRecords(batch, dropped, queue)
    const provider = new LoggerProvider({ processors: [processor] })
    const logger = provider.getLogger("test")
    const emitted = BATCH.maxExportBatchSize + QUEUE + 7
    for (let i = 0; i < emitted; i++) {
      logger.emit({ body: `line ${i}` })
      // The batch hands its first full batch to the collector a few microtasks after taking it off its queue.
      if (i === BATCH.maxExportBatchSize - 1) await new Promise((resolve) => setImmediate(resolve))
    }
    assert.equal(drops.count, 7)
    await drain(processor, collector, emitted - drops.count)
    await provider.shutdown()
    assert.equal(collector.received(), emitted - drops.count, "every record not counted as dropped was exported")
  })
  it("records arriving during a slow flush are not counted as dropped; a later overflow is", async () => {
    const { drops, dropped } = counters()
    const collector = heldCollector<ReadableLogRecord>()
    const queue = batchQueue(QUEUE)
    const batch = new BatchLogRecordProcessor({
      exporter: countingFailures(collector.exporter, "log record(s)", dropped, queue),
      ...BATCH
    })
    const processor = countingLogRecords(batch, dropped, queue)
    const provider = new LoggerProvider({ processors: [processor] })
    const logger = provider.getLogger("test")
    let emitted = 0
    const emit = (count: number) => {
      for (let i = 0; i < count; i++) logger.emit({ body: `line ${emitted++}` })
    }
    // One batch goes to the (slow) collector, most of a queue waits behind it, and a flush takes that queue at once:
    // it then waits for the collector before handing it over.
    emit(BATCH.maxExportBatchSize)
    await new Promise((resolve) => setImmediate(resolve))
    emit(QUEUE - 4)
    let settled = false
    const flushed = processor.forceFlush().then(() => settled = true)
    await new Promise((resolve) => setImmediate(resolve))
    // The batch's queue is empty while the flush waits: a full queue's worth fits, nothing is dropped.
    emit(QUEUE)
    assert.equal(drops.count, 0, "no record counted as dropped while the batch had room for it")
    await releaseUntil(collector, () => settled)
    await flushed
    // After the flush, one batch of those goes to the collector (held) and the rest wait; filling the queue past its
    // size drops exactly the excess.
    emit(BATCH.maxExportBatchSize + 5)
    assert.equal(drops.count, 5, "the records past a full queue are counted")
    await drain(processor, collector, emitted - drops.count)
    await provider.shutdown()
    assert.equal(collector.received(), emitted - drops.count, "every record not counted as dropped was exported")
    assert.equal(queue.waiting, 0)
  })
  it("a batch whose export never comes does not hold the count up", async () => {
    const { drops, dropped } = counters()
    const collector = heldCollector<ReadableSpan>()
    const queue = batchQueue(QUEUE)
    const batch = new BatchSpanProcessor(countingFailures(collector.exporter, "span(s)", dropped, queue), BATCH)
    const processor = countingSpans(batch, dropped, queue)
    // A resource whose asynchronous attributes fail to arrive once: the batch waiting for them is never exported.
    let failing = true
    const resource = Object.create(resourceFromAttributes({ "service.name": "test" }), {
      asyncAttributesPending: { get: () => failing },
      waitForAsyncAttributes: { value: () => failing ? Promise.reject(new Error("detector down")) : Promise.resolve() }
    })
    const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] })
    const tracer = provider.getTracer("test")
    for (let i = 0; i < BATCH.maxExportBatchSize; i++) tracer.startSpan(`lost ${i}`).end()
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(collector.received(), 0, "the first batch never reached the exporter")
    failing = false
    // The next batch goes to the (slow) collector, the queue fills behind it, and 5 more have no room.
    const ended = BATCH.maxExportBatchSize + QUEUE + 5
    for (let i = 0; i < ended; i++) tracer.startSpan(`span ${i}`).end()
    assert.equal(drops.count, 5, "only the spans past a full queue are counted")
    await drain(processor, collector, ended - drops.count)
    await provider.shutdown()
    assert.equal(collector.received(), ended - drops.count, "every later span not counted as dropped was exported")
  })
})
