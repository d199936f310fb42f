import { Effect, Layer } from "effect"
import type { TelemetryExporter } from "../core/observability/Telemetry.ts"

/**
 * OTLP export (`otlp.ts`), loaded only when monitoring is on: OpenTelemetry's SDK and gRPC take a second or two to
 * import, which a gateway that does not export should not pay at every start.
 */
export const otlpExporter = (env: Readonly<Record<string, string | undefined>>): TelemetryExporter => (settings) => {
  const drops = { count: 0 }
  const serviceName = env.OTEL_SERVICE_NAME || "isartor"
  return {
    layer: Layer.unwrap(
      Effect.map(Effect.promise(() => import("./otlp.ts")), ({ otlpLayer }) => otlpLayer(env, settings, drops))
    ),
    description: `traces and metrics over ${settings.protocol} to ${
      settings.endpoint.replace(/\/+$/, "")
    } as service ${serviceName}, and the log lines`,
    dropped: () => drops.count
  }
}
