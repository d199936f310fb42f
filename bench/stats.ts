// Figures of alternated rounds on a shared machine: a median says little without its spread, nor either without the
// machine's load while it was measured.
import { loadavg } from "node:os"

export const median = (numbers: Array<number>) => {
  const sorted = [...numbers].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const quantile = (numbers: Array<number>, q: number) => {
  const sorted = [...numbers].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))]!
}

/** Median, quartiles and extremes: the spread says whether the rounds agree. */
export const spread = (numbers: Array<number>, digits: number) =>
  `median ${median(numbers).toFixed(digits)} (quartiles ${quantile(numbers, 0.25).toFixed(digits)}–${
    quantile(numbers, 0.75).toFixed(digits)
  }, range ${Math.min(...numbers).toFixed(digits)}–${Math.max(...numbers).toFixed(digits)}; ${numbers.length} rounds)`

/** The machine's load averages over 1, 5 and 15 minutes. */
export const loads = () => loadavg().map((load) => load.toFixed(1)).join(", ")
