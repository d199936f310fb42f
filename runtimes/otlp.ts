import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { layerLoggerProvider, logLevelToSeverityNumber, OtelLoggerProvider } from "@effect/opentelemetry/OtelLogger"
import { type Context as OtelContext, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api"
import type { AnyValueMap } from "@opentelemetry/api-logs"
import { OTLPLogExporter as GrpcLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { BatchLogRecordProcessor, type LogRecordExporter, type ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Logger, References, Tracer } from "effect"
import { logText, type TelemetrySettings } from "../core/observability/Telemetry.ts"
import { parseKeyValues } from "./keyValues.ts"
import {
  batchQueue,
  countingFailures,
  countingLogRecords,
  countingSpans,
  dropCounter,
  type Drops
} from "./otlpDrops.ts"

/** Spans (and log records) waiting for export, at most: past this one is dropped (and counted), never held. */
const MAX_QUEUE = 2048
const BATCH = {
  maxQueueSize: MAX_QUEUE,
  maxExportBatchSize: 512,
  scheduledDelayMillis: 1000,
  exportTimeoutMillis: 5000
}

/** Stopping the gateway flushes what is queued; a collector that is down then must not fail the shutdown. */
const quietOnShutdown = (part: { shutdown(): Promise<void>; forceFlush(): Promise<void> }) => {
  const shutdown = part.shutdown.bind(part)
  const forceFlush = part.forceFlush.bind(part)
  part.shutdown = () => shutdown().catch(() => undefined)
  part.forceFlush = () => forceFlush().catch(() => undefined)
}

/**
 * The gateway's log lines as OTLP log records, beside the lines it prints: the same levels (`log_level`), the body
 * the printed text, the line's annotations as attributes, and the trace and span of the request it was written in.
 */
const logExporter = (settings: TelemetrySettings) =>
  Effect.gen(function*() {
    const otel = (yield* OtelLoggerProvider).getLogger("isartor", settings.version)
    return Logger.make(({ date, fiber, logLevel, message }) => {
      if (!settings.logs(logLevel)) return
      const attributes: AnyValueMap = {}
      for (const [key, value] of Object.entries(fiber.getRef(References.CurrentLogAnnotations))) {
        attributes[key] = typeof value === "number" || typeof value === "boolean" ? value : String(value)
      }
      const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
      const context: OtelContext = span
        ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: span.traceId,
          spanId: span.spanId,
          traceFlags: span.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE
        })
        : ROOT_CONTEXT
      otel.emit({
        body: logText(message),
        severityNumber: logLevelToSeverityNumber(logLevel),
        severityText: logLevel.toUpperCase(),
        timestamp: date,
        attributes,
        context
      })
    })
  })

/** Where and how the three signals are exported, and the counter their drops go to. */
interface Export {
  /** The collector's endpoint, without a trailing slash. */
  readonly base: string
  readonly headers: Record<string, string>
  readonly grpc: boolean
  readonly dropped: Drops
}

/** Spans in a bounded batch, their failed exports and overflow counted as drops. */
const spanProcessor = ({ base, headers, grpc, dropped }: Export) => {
  const traces: SpanExporter = grpc
    ? new GrpcTraceExporter({ url: base, timeoutMillis: 5000 })
    : new ProtoTraceExporter({ url: `${base}/v1/traces`, headers, timeoutMillis: 5000 })
  const queue = batchQueue(MAX_QUEUE)
  const batch = new BatchSpanProcessor(countingFailures<ReadableSpan>(traces, "span(s)", dropped, queue), BATCH)
  return countingSpans(batch, dropped, queue)
}

/** Log records in a bounded batch, their failed exports and overflow counted as drops. */
const logRecordProcessor = ({ base, headers, grpc, dropped }: Export) => {
  const logs: LogRecordExporter = grpc
    ? new GrpcLogExporter({ url: base, timeoutMillis: 5000 })
    : new ProtoLogExporter({ url: `${base}/v1/logs`, headers, timeoutMillis: 5000 })
  const queue = batchQueue(MAX_QUEUE)
  const batch = new BatchLogRecordProcessor({
    exporter: countingFailures<ReadableLogRecord>(logs, "log record(s)", dropped, queue),
    ...BATCH
  })
  return countingLogRecords(batch, dropped, queue)
}

/** Metrics pushed every OTEL_METRIC_EXPORT_INTERVAL ms; a failed export is counted as a drop. */
const metricReader = ({ base, headers, grpc, dropped }: Export, env: Readonly<Record<string, string | undefined>>) => {
  const metrics = grpc
    ? new GrpcMetricExporter({ url: base, timeoutMillis: 5000 })
    : new ProtoMetricExporter({ url: `${base}/v1/metrics`, headers, timeoutMillis: 5000 })
  const metricExporter: PushMetricExporter = {
    export: (batchOfMetrics, done) =>
      metrics.export(batchOfMetrics, (result) => {
        dropped.counted(result, 1, "metric export(s)")
        done(result)
      }),
    shutdown: () => metrics.shutdown(),
    forceFlush: () => metrics.forceFlush(),
    selectAggregationTemporality: (instrument) => metrics.selectAggregationTemporality(instrument)
  }
  const intervalMs = Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 15_000
  return new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(5000, intervalMs)
  })
}

/**
 * OTLP export of the gateway's spans, metrics and log lines through OpenTelemetry's SDK, bridged by
 * @effect/opentelemetry: gRPC (4317) or http/protobuf (4318), the standard OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
 * and OTEL_EXPORTER_OTLP_HEADERS honoured. Spans and log records queue in bounded batches; what a down collector
 * costs is dropped spans and records, counted and warned about once a minute — never a slower request.
 */
export const otlpLayer = (
  env: Readonly<Record<string, string | undefined>>,
  settings: TelemetrySettings,
  drops: { count: number }
) => {
  const serviceName = env.OTEL_SERVICE_NAME || "isartor"
  const base = settings.endpoint.replace(/\/+$/, "")
  const target: Export = {
    base,
    headers: parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS),
    grpc: settings.protocol === "grpc",
    dropped: dropCounter(settings, base, drops)
  }
  const spans = spanProcessor(target)
  const records = logRecordProcessor(target)
  const reader = metricReader(target, env)
  for (const part of [spans, records, reader] as Array<Parameters<typeof quietOnShutdown>[0]>) quietOnShutdown(part)

  const sdk = NodeSdk.layer(() => ({
    spanProcessor: spans,
    metricReader: reader,
    resource: {
      serviceName,
      serviceVersion: settings.version,
      attributes: { ...parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES), "service.name": serviceName }
    },
    shutdownTimeout: "3 seconds"
  }))
  // Added to the gateway's own logger; its provider flushes what is queued when the gateway stops.
  const logger = Logger.layer([logExporter(settings)], { mergeWithExisting: true }).pipe(
    Layer.provide(layerLoggerProvider(records, { shutdownTimeout: "3 seconds" }))
  )
  // The bridge's tracer also enters OpenTelemetry's context around every step of every fiber, for instrumentations
  // that read it; the gateway has none, and it cost exact hits — which carry no span — 30 % of their throughput.
  return Layer.effect(
    Tracer.Tracer,
    Effect.map(Effect.tracer, (otel) => Tracer.make({ span: (options) => otel.span(options) }))
  ).pipe(Layer.merge(logger), Layer.provideMerge(sdk))
}
