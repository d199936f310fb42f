import { Effect, Layer, References } from "effect"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { TelemetryDropped, type TelemetryExport } from "../observability/Telemetry.ts"
import { VERSION } from "../version.ts"
import { type GatewayLog, jsonLogLine, LEVELS, SEVERITY } from "./logging.ts"
import type { GatewayOptions } from "./options.ts"

/**
 * OTLP export, when `enable_monitoring` is on and the runtime can export; one start-up line says which, and where.
 * Without it, spans are turned off altogether: even an unexported span costs an exact hit a measurable share.
 */
export const telemetryLayer = (config: AppConfigShape, options: GatewayOptions, log: GatewayLog) =>
  Layer.unwrap(Effect.gen(function*() {
    if (!config.enable_monitoring) {
      yield* Effect.logInfo(
        "OpenTelemetry export off (ISARTOR__ENABLE_MONITORING=true turns it on); Prometheus metrics at GET /metrics"
      )
      return Layer.succeed(References.TracerEnabled, false)
    }
    if (!options.telemetry) {
      yield* Effect.logWarning("ISARTOR__ENABLE_MONITORING=true, but this runtime cannot export OpenTelemetry")
      return Layer.succeed(References.TracerEnabled, false)
    }
    const exported: TelemetryExport = options.telemetry({
      endpoint: config.otel_exporter_endpoint,
      protocol: config.otel_exporter_protocol,
      version: VERSION,
      logs: (level) => SEVERITY[level] >= LEVELS[config.log_level],
      warn: (line) => log.warn(config.log_format === "json" ? jsonLogLine("warn", line) : `isartor: warning: ${line}`)
    })
    // Said once the exporter is in place, so that the collector has the line too.
    return Layer.merge(exported.layer, Layer.succeed(TelemetryDropped, exported.dropped)).pipe(
      Layer.tap((context) =>
        Effect.logInfo(`OpenTelemetry export on: ${exported.description}; Prometheus metrics at GET /metrics`).pipe(
          Effect.provideContext(context)
        )
      )
    )
  }))
