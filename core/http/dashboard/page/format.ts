/**
 * How the dashboard writes its figures: one function per kind of number, in one fixed locale, so the page reads the
 * same everywhere and its test can write the figure it expects from the admin API's number.
 */

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 })

/** A share (0–1) as a percentage with one decimal: `0.625` → `62.5 %`; none (no requests yet) is a dash. */
export const percent = (rate: number | null): string =>
  rate !== null && Number.isFinite(rate) ? `${(rate * 100).toFixed(1)} %` : "–"

/** US dollars: cents for a dollar and up, four decimals below one (a cached answer saves fractions of a cent). */
export const usd = (value: number): string => {
  if (!Number.isFinite(value)) return "–"
  const sign = value < 0 ? "-" : ""
  const amount = Math.abs(value)
  return `${sign}$${
    amount === 0 || amount >= 1
      ? grouped.format(Math.trunc(amount)) + (amount % 1).toFixed(2).slice(1)
      : amount.toFixed(4)
  }`
}

/** A count: grouped digits up to a million, compact above (`1.2M`). */
export const count = (value: number): string =>
  !Number.isFinite(value) ? "–" : Math.abs(value) >= 1_000_000 ? compact.format(value) : grouped.format(value)

/** Bytes in binary units: `40960` → `40.0 KiB`. */
export const bytes = (value: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let scaled = value
  let unit = 0
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${scaled.toFixed(1)} ${units[unit]}`
}

/** A latency in milliseconds: two decimals under 10 ms, whole milliseconds under a second, then seconds. */
export const millis = (value: number): string =>
  !Number.isFinite(value)
    ? "–"
    : value < 10
    ? `${value.toFixed(2)} ms`
    : value < 1000
    ? `${Math.round(value)} ms`
    : `${(value / 1000).toFixed(2)} s`

/** An uptime: its two largest units (`2 d 3 h`, `14 min 5 s`). */
export const uptime = (seconds: number): string => {
  const parts: Array<[number, string]> = [
    [Math.floor(seconds / 86400), "d"],
    [Math.floor(seconds / 3600) % 24, "h"],
    [Math.floor(seconds / 60) % 60, "min"],
    [Math.floor(seconds) % 60, "s"]
  ]
  const first = parts.findIndex(([value]) => value > 0)
  if (first === -1) return "0 s"
  return parts.slice(first, first + 2).filter(([value]) => value > 0).map(([value, unit]) => `${value} ${unit}`).join(
    " "
  )
}

/** A moment as the operator's clock shows it, to the second. */
export const clock = (at: number | string): string => {
  const date = new Date(at)
  return Number.isNaN(date.getTime()) ? String(at) : date.toLocaleTimeString("en-GB", { hour12: false })
}

/** A moment with its date, for entries that live for days. */
export const dateTime = (at: number | string): string => {
  const date = new Date(at)
  return Number.isNaN(date.getTime())
    ? String(at)
    : `${date.toLocaleDateString("en-CA")} ${date.toLocaleTimeString("en-GB", { hour12: false })}`
}

/** A caller as the tables name it: its label, else the start of its scope hash (a label is shown whole). */
export const callerName = (caller: string, label?: string): string =>
  label !== undefined && label !== "" ? label : /^[0-9a-z]{16,}$/i.test(caller) ? `${caller.slice(0, 12)}…` : caller

/** The layers in the order a request falls through them, with the names the legend gives them. */
export const LAYERS = ["l1a", "l1b", "l2", "l3", "pass"] as const
export const LAYER_NAMES: Record<(typeof LAYERS)[number] | "none", string> = {
  none: "Failed before any layer",
  l1a: "L1a exact cache",
  l1b: "L1b semantic cache",
  l2: "L2 local model",
  l3: "L3 cloud provider",
  pass: "Pass-through"
}

/** A deflection rate from per-layer counts: the share answered by L1a, L1b and L2. */
export const deflectionOf = (layers: Readonly<Partial<Record<string, number>>>): number => {
  const deflected = (layers.l1a ?? 0) + (layers.l1b ?? 0) + (layers.l2 ?? 0)
  const total = deflected + (layers.l3 ?? 0) + (layers.pass ?? 0)
  return total === 0 ? 0 : deflected / total
}
