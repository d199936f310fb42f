/**
 * Counts events per kind and says when one may be reported: at most once per `intervalMs` per kind, with how many
 * happened since the last report — so an outage under load is one log line per interval, not one per request.
 */
export const makeReportThrottle = (intervalMs: number) => {
  const seen = new Map<string, { count: number; lastReported: number }>()
  /** The count since the last report when this event is to be reported now, else `undefined`. */
  return (kind: string, now: number): number | undefined => {
    let entry = seen.get(kind)
    if (entry === undefined) seen.set(kind, entry = { count: 0, lastReported: Number.NEGATIVE_INFINITY })
    entry.count++
    if (now - entry.lastReported < intervalMs) return undefined
    const count = entry.count
    entry.count = 0
    entry.lastReported = now
    return count
  }
}
