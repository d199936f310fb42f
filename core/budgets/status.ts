import type { BudgetAction } from "../config/spendLeaves.ts"
import { type Budget, limitOf, MICROS, type Spent, usedRatio } from "./limits.ts"
import type { Calendar } from "./windows.ts"

/** Used and limit of one unit in one window; `limit` null: none set. */
export interface BudgetAmount {
  readonly used: number
  readonly limit: number | null
}

/** One window a budget limits: the current UTC day or month. */
export interface BudgetWindowStatus {
  readonly window: "day" | "month"
  /** The window's UTC date (`2026-12-07`) or month (`2026-12`). */
  readonly period: string
  readonly resets_at: string
  readonly tokens: BudgetAmount
  readonly cost_usd: BudgetAmount
  /** The more spent of its limits, as a share (1: spent). */
  readonly used_ratio: number
}

/** One budget as `GET /admin/budgets` and `isartor budgets` show it. */
export interface BudgetStatus {
  readonly budget: string
  readonly scope: "provider" | "caller"
  readonly action: BudgetAction
  readonly warn_at: number
  /** The most spent limit of every window, as a share; null when its counters did not answer. */
  readonly used_ratio: number | null
  /** Only the windows it sets a limit in. */
  readonly windows: ReadonlyArray<BudgetWindowStatus>
  /** Why its counts are unknown (its Redis did not answer): the windows then show no use. */
  readonly error?: string
}

const WINDOWS = ["day", "month"] as const

const amountOf = (used: number, limit: number, scale: number): BudgetAmount => ({
  used: used / scale,
  limit: limit < 0 ? null : limit / scale
})

/** A budget's standing in the current windows; `spent` undefined when its counters did not answer. */
export const statusOf = (
  budget: Budget,
  calendar: Calendar,
  spent: Spent | undefined,
  error?: string
): BudgetStatus => {
  const counts = spent ?? { day: { tokens: 0, micros: 0 }, month: { tokens: 0, micros: 0 } }
  const windows = WINDOWS.flatMap((window): Array<BudgetWindowStatus> => {
    const tokens = limitOf(budget.counted, window, "tokens")
    const micros = limitOf(budget.counted, window, "micros")
    if (tokens < 0 && micros < 0) return []
    return [{
      window,
      period: calendar.windows[window],
      resets_at: new Date(window === "day" ? calendar.dayEndsAt : calendar.monthEndsAt).toISOString(),
      tokens: amountOf(counts[window].tokens, tokens, 1),
      cost_usd: amountOf(counts[window].micros, micros, MICROS),
      used_ratio: usedRatio(budget, counts, window)
    }]
  })
  return {
    budget: budget.name,
    scope: budget.scope,
    action: budget.limits.action,
    warn_at: budget.limits.warn_at,
    used_ratio: spent === undefined ? null : usedRatio(budget, counts),
    windows,
    ...(error === undefined ? {} : { error })
  }
}
