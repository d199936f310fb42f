import type { Windows } from "./BudgetCounters.ts"

const DAY_MS = 24 * 3_600_000

/** The UTC day and month `now` falls in, and when each ends. */
export interface Calendar {
  readonly windows: Windows
  readonly dayEndsAt: number
  readonly monthEndsAt: number
}

/** Counters outlive their window by a day, so a late correction (an answer that ends after midnight) still lands. */
export const calendarAt = (now: number): Calendar => {
  const date = new Date(now)
  const year = date.getUTCFullYear()
  const month = date.getUTCMonth()
  const dayEndsAt = Date.UTC(year, month, date.getUTCDate() + 1)
  const monthEndsAt = Date.UTC(year, month + 1, 1)
  const iso = date.toISOString()
  return {
    windows: {
      day: iso.slice(0, 10),
      month: iso.slice(0, 7),
      dayTtlMs: dayEndsAt - now + DAY_MS,
      monthTtlMs: monthEndsAt - now + DAY_MS
    },
    dayEndsAt,
    monthEndsAt
  }
}
