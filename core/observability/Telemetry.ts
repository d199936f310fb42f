import { Context, type Layer, type LogLevel } from "effect"

/** What the gateway tells the runtime's exporter when `enable_monitoring` is on. */
export interface TelemetrySettings {
  readonly endpoint: string
  readonly protocol: "grpc" | "http/protobuf"
  readonly version: string
  /** Whether the gateway writes a line at this level (`log_level`): only what it writes is exported. */
  readonly logs: (level: LogLevel.LogLevel) => boolean
  /** Warnings go to the gateway's log: one line, rate-limited by the exporter. */
  readonly warn: (line: string) => void
}

/**
 * An OTLP exporter, built by the runtime (core imports no OpenTelemetry SDK): a layer that installs the tracer, exports
 * the gateway's metrics and adds a logger that exports its log lines, what it exports to for the start-up line, and
 * how much it has dropped.
 */
export interface TelemetryExport {
  readonly layer: Layer.Layer<never>
  /** e.g. "traces and metrics over grpc to http://otel-collector:4317 as service isartor, and the log lines". */
  readonly description: string
  /** Spans, metric exports and log records dropped since start: collector unreachable or queue full. */
  readonly dropped: () => number
}

export type TelemetryExporter = (settings: TelemetrySettings) => TelemetryExport

/** The exporter's drop count, for `isartor_otel_dropped_total`: 0 when nothing is exported. */
export const TelemetryDropped = Context.Reference<() => number>("isartor/TelemetryDropped", {
  defaultValue: () => () => 0
})

/** The text of an Effect log message as the gateway writes it: its parts, joined by spaces. */
export const logText = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((part) => typeof part === "string" ? part : String(part)).join(" ")
