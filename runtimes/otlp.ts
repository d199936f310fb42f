import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { ExportResult } from "@opentelemetry/core"
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Tracer } from "effect"
import type { TelemetrySettings } from "../core/observability/Telemetry.ts"
import { parseKeyValues } from "./telemetry.ts"

/** Spans waiting for export, at most: past this a span is dropped (and counted), never held in memory. */
const MAX_QUEUE = 2048
const WARNING_INTERVAL_MS = 60_000

/**
 * OTLP export of the gateway's spans and metrics through OpenTelemetry's SDK, bridged by @effect/opentelemetry:
 * gRPC (4317) or http/protobuf (4318), the standard OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS honoured. Spans queue in a bounded batch; what a down collector costs is dropped
 * spans, counted and warned about once a minute — never a slower request.
 */
export const otlpLayer = (
  env: Readonly<Record<string, string | undefined>>,
  settings: TelemetrySettings,
  drops: { count: number }
) => {
  const serviceName = env.OTEL_SERVICE_NAME || "isartor"
  const headers = parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS)
  const base = settings.endpoint.replace(/\/+$/, "")
  const grpc = settings.protocol === "grpc"

  let lastWarning = Number.NEGATIVE_INFINITY
  const drop = (count: number, what: string, reason: string) => {
    drops.count += count
    const now = Date.now()
    if (now - lastWarning < WARNING_INTERVAL_MS) return
    lastWarning = now
    settings.warn(
      `OTLP export to ${base} failed: ${count} ${what} dropped (${reason}); requests are unaffected; next warning in 60 s at the earliest`
    )
  }
  const counted = (result: ExportResult, count: number, what: string) => {
    if (result.code !== 0) drop(count, what, result.error?.message ?? "export failed")
  }

  const traces = grpc
    ? new GrpcTraceExporter({ url: base, timeoutMillis: 5000 })
    : new ProtoTraceExporter({ url: `${base}/v1/traces`, headers, timeoutMillis: 5000 })
  const spanExporter: SpanExporter = {
    export: (spans: Array<ReadableSpan>, done) =>
      traces.export(spans, (result) => {
        counted(result, spans.length, "span(s)")
        done(result)
      }),
    shutdown: () => traces.shutdown(),
    forceFlush: () => traces.forceFlush()
  }
  const batch = new BatchSpanProcessor(spanExporter, {
    maxQueueSize: MAX_QUEUE,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 1000,
    exportTimeoutMillis: 5000
  })
  // The batch drops what does not fit without telling: count it on the way in.
  const queued = batch as unknown as { readonly _finishedSpans?: ReadonlyArray<unknown> }
  const onEnd = batch.onEnd.bind(batch)
  batch.onEnd = (span) => {
    if ((queued._finishedSpans?.length ?? 0) >= MAX_QUEUE) drop(1, "span(s)", "export queue full")
    onEnd(span)
  }

  const metrics = grpc
    ? new GrpcMetricExporter({ url: base, timeoutMillis: 5000 })
    : new ProtoMetricExporter({ url: `${base}/v1/metrics`, headers, timeoutMillis: 5000 })
  const metricExporter: PushMetricExporter = {
    export: (batchOfMetrics, done) =>
      metrics.export(batchOfMetrics, (result) => {
        counted(result, 1, "metric export(s)")
        done(result)
      }),
    shutdown: () => metrics.shutdown(),
    forceFlush: () => metrics.forceFlush(),
    selectAggregationTemporality: (instrument) => metrics.selectAggregationTemporality(instrument)
  }
  const intervalMs = Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 15_000
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(5000, intervalMs)
  })
  // Stopping the gateway flushes what is queued; a collector that is down then must not fail the shutdown.
  for (const part of [batch, reader] as Array<{ shutdown(): Promise<void>; forceFlush(): Promise<void> }>) {
    const shutdown = part.shutdown.bind(part)
    const forceFlush = part.forceFlush.bind(part)
    part.shutdown = () => shutdown().catch(() => undefined)
    part.forceFlush = () => forceFlush().catch(() => undefined)
  }

  const sdk = NodeSdk.layer(() => ({
    spanProcessor: batch,
    metricReader: reader,
    resource: {
      serviceName,
      serviceVersion: settings.version,
      attributes: { ...parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES), "service.name": serviceName }
    },
    shutdownTimeout: "3 seconds"
  }))
  // The bridge's tracer also enters OpenTelemetry's context around every step of every fiber, for instrumentations
  // that read it; the gateway has none, and it cost exact hits — which carry no span — 30 % of their throughput.
  return Layer.effect(
    Tracer.Tracer,
    Effect.map(Effect.tracer, (otel) => Tracer.make({ span: (options) => otel.span(options) }))
  ).pipe(Layer.provideMerge(sdk))
}
