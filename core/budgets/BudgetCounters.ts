import type { RedisCommands } from "../redis/RedisCommands.ts"

/** Tokens, and cost in millionths of a USD (whole numbers: Redis adds integers). */
export interface Counts {
  readonly tokens: number
  readonly micros: number
}

/** A budget's two current windows: the UTC day and the UTC month, each with how long its counters must live. */
export interface Windows {
  readonly day: string
  readonly month: string
  readonly dayTtlMs: number
  readonly monthTtlMs: number
}

/** Limits per window; `-1`: none. */
export interface WindowLimits {
  readonly dayTokens: number
  readonly dayMicros: number
  readonly monthTokens: number
  readonly monthMicros: number
}

export interface Charged {
  /** Whether the amount was added (always, without limits). */
  readonly admitted: boolean
  /** Each window's counts after the charge (before it, when refused). */
  readonly day: Counts
  readonly month: Counts
}

/**
 * A budget's counters. `charge` is one atomic step: with limits, it adds only when every window stays within them,
 * so racing requests (on one replica or many) cannot all pass the same last gap.
 */
export interface BudgetCounters {
  readonly charge: (
    budget: string,
    windows: Windows,
    amount: Counts,
    limits: WindowLimits | undefined
  ) => Promise<Charged>
}

const NO_LIMITS: WindowLimits = { dayTokens: -1, dayMicros: -1, monthTokens: -1, monthMicros: -1 }

const within = (used: number, added: number, limit: number) => limit < 0 || used + added <= limit

/** In this process: one replica's budgets. A window's counters are dropped when the next window starts. */
export const makeMemoryCounters = (): BudgetCounters => {
  const kept = new Map<string, { day: string; month: string; dayCounts: Counts; monthCounts: Counts }>()
  return {
    charge: async (budget, windows, amount, limits = NO_LIMITS) => {
      const previous = kept.get(budget)
      const zero = { tokens: 0, micros: 0 }
      const day = previous?.day === windows.day ? previous.dayCounts : zero
      const month = previous?.month === windows.month ? previous.monthCounts : zero
      const admitted = within(day.tokens, amount.tokens, limits.dayTokens) &&
        within(day.micros, amount.micros, limits.dayMicros) &&
        within(month.tokens, amount.tokens, limits.monthTokens) &&
        within(month.micros, amount.micros, limits.monthMicros)
      if (!admitted) return { admitted, day, month }
      const dayCounts = { tokens: day.tokens + amount.tokens, micros: day.micros + amount.micros }
      const monthCounts = { tokens: month.tokens + amount.tokens, micros: month.micros + amount.micros }
      kept.set(budget, { day: windows.day, month: windows.month, dayCounts, monthCounts })
      return { admitted, day: dayCounts, month: monthCounts }
    }
  }
}

/**
 * Check-and-add in one round trip: KEYS are the day's tokens and cost, then the month's; ARGV the amounts, the four
 * limits (-1: none) and the two lifetimes (ms). Returns admitted (1/0) and the four counts.
 */
const CHARGE = `
local adds = {tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[1]), tonumber(ARGV[2])}
local used = {}
for i = 1, 4 do used[i] = tonumber(redis.call('GET', KEYS[i]) or '0') end
for i = 1, 4 do
  local limit = tonumber(ARGV[2 + i])
  if limit >= 0 and used[i] + adds[i] > limit then return {0, used[1], used[2], used[3], used[4]} end
end
for i = 1, 4 do
  if adds[i] ~= 0 then
    used[i] = redis.call('INCRBY', KEYS[i], adds[i])
    redis.call('PEXPIRE', KEYS[i], i <= 2 and ARGV[7] or ARGV[8])
  end
end
return {1, used[1], used[2], used[3], used[4]}
`

/** Where a budget's counters live: one hash tag per budget, so its four keys share a Redis Cluster slot. */
export const budgetKeyPrefix = "isartor:budget:"

const keysOf = (budget: string, windows: Windows) => {
  const tag = `${budgetKeyPrefix}{${encodeURIComponent(budget)}}`
  return [
    `${tag}:d:${windows.day}:t`,
    `${tag}:d:${windows.day}:c`,
    `${tag}:m:${windows.month}:t`,
    `${tag}:m:${windows.month}:c`
  ]
}

/** In Redis (`cache_backend = redis`): every replica charges the same counters, a budget is the whole fleet's. */
export const makeRedisCounters = (redis: RedisCommands): BudgetCounters => ({
  charge: async (budget, windows, amount, limits = NO_LIMITS) => {
    const reply = await redis.evalScript(CHARGE, keysOf(budget, windows), [
      String(amount.tokens),
      String(amount.micros),
      String(limits.dayTokens),
      String(limits.dayMicros),
      String(limits.monthTokens),
      String(limits.monthMicros),
      String(Math.max(1, Math.ceil(windows.dayTtlMs))),
      String(Math.max(1, Math.ceil(windows.monthTtlMs)))
    ]) as ReadonlyArray<number | string>
    const [admitted, dayTokens, dayMicros, monthTokens, monthMicros] = reply.map(Number)
    return {
      admitted: admitted === 1,
      day: { tokens: dayTokens!, micros: dayMicros! },
      month: { tokens: monthTokens!, micros: monthMicros! }
    }
  }
})
