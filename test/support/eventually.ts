// Waiting in tests, bounded and explained: a wait that never ends hangs CI, and one that ends on a fixed sleep passes
// or fails by the machine's speed. `eventually` polls for what the test awaits and, past its bound, fails saying what
// never happened and what it saw last.

export interface EventuallyOptions {
  /** What is awaited, for the failure message: "the second replica to hold 3 entries". */
  readonly what: string
  /** The bound; generous, since it only decides how long a failing test takes to fail. */
  readonly timeoutMs?: number
  /** Between two probes. */
  readonly intervalMs?: number
  /** A reason to stop waiting before the bound (the process being awaited has exited), or `undefined`. */
  readonly failFast?: () => string | undefined
}

export const DEFAULT_TIMEOUT_MS = 10_000

const describe = (value: unknown): string => {
  if (value instanceof Error) return value.message
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Probes until `probe` returns something other than `false`, `undefined` or `null` (and returns it). A probe that
 * throws has not succeeded yet, so it can hold assertions; past `timeoutMs` the last value or error is in the failure.
 */
export const eventually = async <A>(
  probe: () => A | Promise<A>,
  options: EventuallyOptions
): Promise<Exclude<A, false | undefined | null>> => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const intervalMs = options.intervalMs ?? 10
  const deadline = Date.now() + timeoutMs
  let last: unknown = undefined
  for (;;) {
    try {
      const value = await probe()
      if (value !== false && value !== undefined && value !== null) return value as Exclude<A, false | undefined | null>
      last = value
    } catch (error) {
      last = error
    }
    const reason = options.failFast?.()
    if (reason !== undefined) throw new Error(`gave up waiting for ${options.what}: ${reason}`, { cause: last })
    if (Date.now() >= deadline) {
      throw new Error(`waited ${timeoutMs} ms for ${options.what}; last seen: ${describe(last)}`, { cause: last })
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
