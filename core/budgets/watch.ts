import { Effect, Metric } from "effect"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { budgetUsedRatio } from "../observability/Metrics.ts"
import type { Windows } from "./BudgetCounters.ts"
import { type Budget, mostSpentWindow, type Spent, usedRatio } from "./limits.ts"
import { calendarAt } from "./windows.ts"

/** What the gateway says of budgets as they fill: the gauge, a log line once per window, the overview's warnings. */
export interface BudgetWatch {
  /** After each charge: the gauge follows; crossing `warn_at` (or the limit, for `warn`) is logged once per window. */
  readonly observe: (budget: Budget, windows: Windows, charged: Spent) => Effect.Effect<void>
  /** Budgets past their `warn_at` (or spent) in their current window: `/admin/overview`'s warnings. */
  readonly warnings: Effect.Effect<ReadonlyArray<string>>
}

const warningOf = (budget: Budget, ratio: number) =>
  `budget ${JSON.stringify(budget.name)} is ${
    Math.floor(ratio * 100)
  } % spent in its current UTC window (action ${budget.limits.action})`

const gauge = (budget: Budget) => budgetUsedRatio.pipe(Metric.withAttributes({ budget: budget.name }))

export const makeBudgetWatch = (now: () => number): BudgetWatch => {
  /** Each budget's latest counts and the window they are of. */
  const seen = new Map<string, { budget: Budget; windows: Windows; charged: Spent }>()
  /** `budget|window|level`: the warnings already logged, so each is logged once per window (bounded: windows pass). */
  const logged = new BoundedMemo<string, true>(10_000)

  const observe = (budget: Budget, windows: Windows, charged: Spent) =>
    Effect.suspend(() => {
      seen.set(budget.name, { budget, windows, charged })
      const ratio = usedRatio(budget, charged)
      const crossed = ratio >= 1 ? "spent" : ratio >= budget.limits.warn_at ? "warn" : undefined
      const key = `${budget.name}|${windows[mostSpentWindow(budget, charged)]}|${crossed}`
      const line = crossed === undefined || logged.get(key) ? Effect.void : Effect.suspend(() => {
        logged.set(key, true)
        return Effect.logWarning(warningOf(budget, ratio))
      })
      return Effect.andThen(Metric.update(gauge(budget), ratio), line)
    })

  const warnings = Effect.sync(() => {
    const current = calendarAt(now()).windows
    return [...seen.values()].flatMap(({ budget, windows, charged }) => {
      // A new window starts afresh: last window's counts warn no more.
      const counts = {
        day: windows.day === current.day ? charged.day : { tokens: 0, micros: 0 },
        month: windows.month === current.month ? charged.month : { tokens: 0, micros: 0 }
      }
      const ratio = usedRatio(budget, counts)
      return ratio >= budget.limits.warn_at ? [warningOf(budget, ratio)] : []
    })
  })

  return { observe, warnings }
}
