/** The window a retry budget counts over, in one-second buckets. */
export const RETRY_BUDGET_WINDOW_SECS = 10

export interface RetryBudgetView {
  readonly requests: number
  readonly retries: number
  /** Retries the window allows in all: the larger of the floor and the ratio of its requests. */
  readonly allowed: number
}

export interface RetryBudget {
  /** A request reached the provider's first attempt. */
  readonly request: (now: number) => void
  /** Whether one more retry fits the budget; a retry that fits is counted. */
  readonly tryRetry: (now: number) => boolean
  readonly view: (now: number) => RetryBudgetView
}

/**
 * Retries bounded by the traffic they serve, as Envoy's and Finagle's budgets do: over the last 10 s, at most `ratio`
 * of the requests (or `minRetries`, when that is more: a quiet gateway may still retry a blip). A failing upstream
 * then sees its callers' requests and a fifth more, however many times each caller retries.
 */
export const makeRetryBudget = (ratio: number, minRetries: number): RetryBudget => {
  const requests = new Array<number>(RETRY_BUDGET_WINDOW_SECS).fill(0)
  const retries = new Array<number>(RETRY_BUDGET_WINDOW_SECS).fill(0)
  let currentSecond = 0

  /** Empties the buckets of the seconds since the last call, so the arrays always hold the window ending now. */
  const advance = (now: number) => {
    const second = Math.floor(now / 1000)
    const elapsed = Math.min(second - currentSecond, RETRY_BUDGET_WINDOW_SECS)
    for (let step = 1; step <= elapsed; step++) {
      const bucket = (currentSecond + step) % RETRY_BUDGET_WINDOW_SECS
      requests[bucket] = 0
      retries[bucket] = 0
    }
    if (second > currentSecond) currentSecond = second
    return currentSecond % RETRY_BUDGET_WINDOW_SECS
  }
  const sum = (buckets: ReadonlyArray<number>) => buckets.reduce((total, count) => total + count, 0)
  const view = (now: number): RetryBudgetView => {
    advance(now)
    const requested = sum(requests)
    return {
      requests: requested,
      retries: sum(retries),
      allowed: Math.max(minRetries, Math.floor(requested * ratio))
    }
  }

  return {
    request: (now) => {
      requests[advance(now)]!++
    },
    tryRetry: (now) => {
      const current = view(now)
      if (current.retries >= current.allowed) return false
      retries[advance(now)]!++
      return true
    },
    view
  }
}
