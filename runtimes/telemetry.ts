import { Effect, Layer } from "effect"
import type { TelemetryExporter } from "../core/observability/Telemetry.ts"

/** `key=value,key=value` with URL-encoded parts, as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it. */
export const parseKeyValues = (text: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    const decode = (part: string) => {
      try {
        return decodeURIComponent(part.trim())
      } catch {
        return part.trim()
      }
    }
    out[decode(pair.slice(0, at))] = decode(pair.slice(at + 1))
  }
  return out
}

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
