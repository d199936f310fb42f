import { Effect } from "effect"
import { makeReportThrottle } from "./reportThrottle.ts"

/** How often, at most, one kind of outage is reported. */
export const OUTAGE_REPORT_INTERVAL_MS = 30_000

/**
 * The line the operators' guide quotes for a layer that is down, from the reason the layer gave; none for a layer
 * that passed a request on as it should (a miss, `Cache-Control: no-cache`, a layer turned off, a prompt it does not
 * take).
 */
export const outageLine = (layer: string, reason: string): string | undefined => {
  if ((layer === "l1a" || layer === "l1b") && reason.startsWith("redis ")) {
    return `Layer ${layer.slice(1)}: Redis connection error — falling through`
  }
  if (layer === "l1b" && reason.startsWith("embedder")) return "Layer 1b: embedding model unavailable — falling through"
  const local = reason.replace(/^local answer failed: /, "")
  // Character for character as the guide prints them, its en dash in the second line included: operators grep for them.
  if (layer === "l2" && local.startsWith("sidecar ")) {
    return "Layer 2: Failed to connect to SLM sidecar — falling through"
  }
  if (layer === "l2" && local.startsWith("embedded engine")) {
    return "Layer 2: Embedded classification failed – falling through"
  }
  return undefined
}

/**
 * Reports outages as warnings, each kind at most once per interval with the count since its last report: a layer
 * down under load is one line every 30 s, not one per request.
 */
export const makeOutageReport = (now: () => number = Date.now) => {
  const throttle = makeReportThrottle(OUTAGE_REPORT_INTERVAL_MS)
  return (layer: string, reason: string): Effect.Effect<void> => {
    const line = outageLine(layer, reason)
    if (line === undefined) return Effect.void
    const count = throttle(line, now())
    if (count === undefined) return Effect.void
    return Effect.logWarning(
      `${line} (${reason}${count > 1 ? `; ${count} requests since the last report` : ""}); next report in ${
        OUTAGE_REPORT_INTERVAL_MS / 1000
      } s at the earliest`
    )
  }
}
