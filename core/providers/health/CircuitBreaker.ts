export type BreakerState = "closed" | "open" | "half_open"

/** Recent calls a breaker judges by, how many it needs before judging, and the share of failures that opens it. */
export const BREAKER_WINDOW = 20
export const BREAKER_MIN_CALLS = 10
export const BREAKER_FAILURE_RATIO = 0.5
/** While a probe is out, other requests are told to come back in this long. */
const PROBE_RETRY_AFTER_MS = 1000

/** Whether a call may go out now: as a plain call, as the one probe of a half-open breaker, or not before a while. */
export type Admission =
  | { readonly _tag: "Admitted"; readonly probe: boolean }
  | { readonly _tag: "Rejected"; readonly retryAfterMs: number }

export interface BreakerView {
  readonly state: BreakerState
  readonly recent_calls: number
  readonly recent_failures: number
  /** ISO time the breaker lets its probe through; only while open. */
  readonly open_until?: string
}

export interface CircuitBreaker {
  readonly admit: (now: number) => Admission
  /** How an admitted call ended: healthy (an answer, even an error answer), failed (5xx, timeout, unreachable). */
  readonly record: (now: number, healthy: boolean, probe: boolean) => void
  /** An admitted probe that ended without a verdict (its client left): the next request probes instead. */
  readonly release: (probe: boolean) => void
  /** The background check's verdict: an upstream that answers again closes the breaker without waiting. */
  readonly checked: (now: number, healthy: boolean) => void
  readonly state: (now: number) => BreakerState
  readonly view: (now: number) => BreakerView
}

/**
 * A circuit breaker over a provider's last calls: when at least half of the last 20 (of at least 10) failed, it
 * opens for `cooloffMs`, during which the provider is not called; then one probe goes through, and its outcome
 * closes the breaker or opens it again. `cooloffMs = 0` is a breaker that never opens.
 */
export const makeCircuitBreaker = (cooloffMs: number): CircuitBreaker => {
  const outcomes: Array<boolean> = []
  let openUntil = 0
  let opened = false
  let probing = false

  const failures = () => outcomes.reduce((count, healthy) => count + (healthy ? 0 : 1), 0)
  const open = (now: number) => {
    opened = true
    openUntil = now + cooloffMs
    outcomes.length = 0
  }
  const close = () => {
    opened = false
    outcomes.length = 0
  }
  const state = (now: number): BreakerState => (!opened ? "closed" : now < openUntil ? "open" : "half_open")
  /** One more outcome of a closed breaker; a call admitted before it opened and ending after does not count. */
  const judge = (now: number, healthy: boolean) => {
    if (opened || cooloffMs === 0) return
    outcomes.push(healthy)
    if (outcomes.length > BREAKER_WINDOW) outcomes.shift()
    if (outcomes.length >= BREAKER_MIN_CALLS && failures() >= outcomes.length * BREAKER_FAILURE_RATIO) open(now)
  }

  return {
    admit: (now) => {
      const current = state(now)
      if (current === "closed") return { _tag: "Admitted", probe: false }
      if (current === "open") return { _tag: "Rejected", retryAfterMs: openUntil - now }
      if (probing) return { _tag: "Rejected", retryAfterMs: PROBE_RETRY_AFTER_MS }
      probing = true
      return { _tag: "Admitted", probe: true }
    },
    record: (now, healthy, probe) => {
      if (!probe) return judge(now, healthy)
      probing = false
      return healthy ? close() : open(now)
    },
    release: (probe) => {
      if (probe) probing = false
    },
    checked: (now, healthy) => {
      if (!healthy) return judge(now, false)
      if (opened && !probing) close()
    },
    state,
    view: (now) => {
      const current = state(now)
      return {
        state: current,
        recent_calls: outcomes.length,
        recent_failures: failures(),
        ...(current === "open" ? { open_until: new Date(openUntil).toISOString() } : {})
      }
    }
  }
}
