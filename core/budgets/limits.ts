import type { BudgetLimits } from "../config/spendLeaves.ts"
import { ProviderError } from "../domain/errors.ts"
import type { Charged, Counts, WindowLimits } from "./BudgetCounters.ts"
import { calendarAt } from "./windows.ts"

/** Costs are counted in millionths of a USD: Redis adds whole numbers. */
export const MICROS = 1_000_000

/** A configured budget: `openai`, or `caller:team-web` (a caller by its key's label, else its scope hash). */
export interface Budget {
  readonly name: string
  readonly scope: "provider" | "caller"
  readonly limits: BudgetLimits
  readonly counted: WindowLimits
}

export type Spent = Pick<Charged, "day" | "month">

/** Each limit's config name, window and unit, in the order a refusal names the first one passed. */
export const LIMIT_NAMES = [
  ["daily_tokens", "day", "tokens"],
  ["daily_cost_usd", "day", "micros"],
  ["monthly_tokens", "month", "tokens"],
  ["monthly_cost_usd", "month", "micros"]
] as const

const countedOf = (limits: BudgetLimits): WindowLimits => {
  const whole = (value: number | undefined, scale: number) => value === undefined ? -1 : Math.floor(value * scale)
  return {
    dayTokens: whole(limits.daily_tokens, 1),
    dayMicros: whole(limits.daily_cost_usd, MICROS),
    monthTokens: whole(limits.monthly_tokens, 1),
    monthMicros: whole(limits.monthly_cost_usd, MICROS)
  }
}

export const budgetOf = (name: string, scope: Budget["scope"], limits: BudgetLimits): Budget => ({
  name,
  scope,
  limits,
  counted: countedOf(limits)
})

/** A limit as counted; `-1`: none. */
export const limitOf = (counted: WindowLimits, window: "day" | "month", unit: "tokens" | "micros") =>
  window === "day"
    ? (unit === "tokens" ? counted.dayTokens : counted.dayMicros)
    : (unit === "tokens" ? counted.monthTokens : counted.monthMicros)

const ratioOf = (used: number, limit: number) => limit < 0 ? 0 : limit === 0 ? 1 : used / limit

const ratiosOf = (budget: Budget, spent: Spent) =>
  LIMIT_NAMES.map(([, window, unit]) => ({
    window,
    ratio: ratioOf(spent[window][unit], limitOf(budget.counted, window, unit))
  }))

/** The most spent of a budget's limits (of one window, when named), as a share. */
export const usedRatio = (budget: Budget, spent: Spent, window?: "day" | "month") =>
  Math.max(
    0,
    ...ratiosOf(budget, spent).filter((one) => window === undefined || one.window === window).map(({ ratio }) => ratio)
  )

/** The window of the most spent limit: a warning is logged once in it. */
export const mostSpentWindow = (budget: Budget, spent: Spent) =>
  ratiosOf(budget, spent).reduce((most, one) => (one.ratio > most.ratio ? one : most)).window

/** The first limit `amount` would pass: its name, window and unit. */
const passedLimit = (budget: Budget, spent: Spent, amount: Counts) =>
  LIMIT_NAMES.find(([, window, unit]) => {
    const limit = limitOf(budget.counted, window, unit)
    return limit >= 0 && spent[window][unit] + amount[unit] > limit
  }) ?? LIMIT_NAMES[0]

const shown = (unit: "tokens" | "micros", value: number) =>
  unit === "tokens" ? `${value} tokens` : `$${(value / MICROS).toFixed(4)}`

/** The 429 (or the reason to skip) of a budget that cannot take `amount`, `now` being in `calendar`. */
export const refusalOf = (
  budget: Budget,
  provider: string,
  spent: Spent,
  amount: Counts,
  now: number
): ProviderError => {
  const [limitName, window, unit] = passedLimit(budget, spent, amount)
  const calendar = calendarAt(now)
  const resetsAt = window === "day" ? calendar.dayEndsAt : calendar.monthEndsAt
  const limit = limitOf(budget.counted, window, unit)
  return new ProviderError({
    provider,
    reason: "BudgetExceeded",
    retried: true,
    retryAfterMs: Math.max(1000, resetsAt - now),
    message: `budget ${JSON.stringify(budget.name)} ${limitName} is spent: ${shown(unit, spent[window][unit])} of ${
      shown(unit, limit)
    } used this UTC ${window}, and this request may take ${shown(unit, amount[unit])}; it resets at ${
      new Date(resetsAt).toISOString()
    }`
  })
}
