import { Clock, Effect } from "effect"

// A TTL seen to end without waiting for it: a gateway given this clock (GatewayOptions.clock) stamps, ages and
// expires its cache entries by a time that stands still until the test moves it. Sleeps still take real time, so an
// upstream timeout or a retry's back-off behaves as it does in production (Effect's TestClock would hold them).

export interface MovableClock {
  readonly clock: Clock.Clock
  /** Moves the time forward by `ms`, at once. */
  readonly advance: (ms: number) => void
}

export const makeMovableClock = (): MovableClock => {
  const live = Effect.runSync(Clock.Clock)
  // Started at the wall clock's time, so that stored timestamps read as dates of today.
  let nowMs = Date.now()
  const millis = () => nowMs
  const nanos = () => BigInt(nowMs) * BigInt(1_000_000)
  return {
    clock: {
      currentTimeMillisUnsafe: millis,
      currentTimeMillis: Effect.sync(millis),
      currentTimeNanosUnsafe: nanos,
      currentTimeNanos: Effect.sync(nanos),
      monotonicTimeNanosUnsafe: nanos,
      monotonicTimeNanos: Effect.sync(nanos),
      sleep: (duration) => live.sleep(duration)
    },
    advance: (ms) => {
      nowMs += ms
    }
  }
}
