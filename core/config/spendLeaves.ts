import { Config, ConfigProvider, Schema } from "effect"
import type { Leaf } from "./Leaf.ts"

/** What a spent budget does to the next request: refuse it (429), send it to the next provider, or only say so. */
export type BudgetAction = "block" | "fallback" | "warn"

/** One budget's limits over UTC calendar windows; an absent limit is no limit. */
export interface BudgetLimits {
  readonly daily_tokens?: number | undefined
  readonly monthly_tokens?: number | undefined
  readonly daily_cost_usd?: number | undefined
  readonly monthly_cost_usd?: number | undefined
  readonly action: BudgetAction
  /** The share of a limit past which the budget is reported as nearly spent (log line, `/admin/overview`). */
  readonly warn_at: number
}

/** `[budgets.<provider>]` and `[budgets.caller."<label>"]`. */
export interface BudgetsSpec {
  readonly providers: Readonly<Record<string, BudgetLimits>>
  readonly callers: Readonly<Record<string, BudgetLimits>>
}

const LIMIT_FIELDS = ["daily_tokens", "monthly_tokens", "daily_cost_usd", "monthly_cost_usd"] as const
const FIELDS = new Set<string>([...LIMIT_FIELDS, "action", "warn_at"])
const ACTIONS = new Set<string>(["block", "fallback", "warn"])

const isTable = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const TOKEN_FIELDS = new Set<string>(["daily_tokens", "monthly_tokens"])

/** What is wrong with one limit's value, if anything: tokens are whole numbers, costs any number, none below 0. */
const limitProblem = (field: string, value: unknown) =>
  TOKEN_FIELDS.has(field)
    ? (typeof value === "number" && Number.isInteger(value) && value >= 0 ? undefined : "expected a whole number")
    : (typeof value === "number" && value >= 0 ? undefined : "expected a number of at least 0 (USD)")

/** One table's limits, or why it is not one (a misspelt field is refused, not ignored: a budget must hold). */
const limitsOf = (table: unknown, where: string): BudgetLimits | string => {
  if (!isTable(table)) return `${where} = ${JSON.stringify(table)}: expected a table of limits`
  const unknown = Object.keys(table).find((field) => !FIELDS.has(field))
  if (unknown !== undefined) {
    return `${where}.${unknown}: not a budget field; expected ${[...FIELDS].join(", ")}`
  }
  const limits: Record<string, unknown> = {}
  for (const field of LIMIT_FIELDS) {
    const value = table[field]
    if (value === undefined) continue
    const problem = limitProblem(field, value)
    if (problem !== undefined) return `${where}.${field} = ${JSON.stringify(value)}: ${problem}`
    limits[field] = value
  }
  if (Object.keys(limits).length === 0) return `${where}: no limit set; expected one of ${LIMIT_FIELDS.join(", ")}`
  const action = table.action ?? "block"
  if (typeof action !== "string" || !ACTIONS.has(action)) {
    return `${where}.action = ${JSON.stringify(action)}: expected one of ${[...ACTIONS].join(", ")}`
  }
  const warnAt = table.warn_at ?? 0.8
  if (typeof warnAt !== "number" || !(warnAt > 0 && warnAt <= 1)) {
    return `${where}.warn_at = ${JSON.stringify(warnAt)}: expected a share in (0, 1]`
  }
  return { ...limits, action: action as BudgetAction, warn_at: warnAt }
}

/** The whole `[budgets]` table, checked; a string says what is wrong with it. */
export const budgetsOf = (value: unknown): BudgetsSpec | string => {
  if (!isTable(value)) return `budgets = ${JSON.stringify(value)}: expected a table`
  const providers: Record<string, BudgetLimits> = {}
  const callers: Record<string, BudgetLimits> = {}
  for (const [name, table] of Object.entries(value)) {
    if (name === "caller") {
      if (!isTable(table)) return `budgets.caller = ${JSON.stringify(table)}: expected a table of callers`
      for (const [caller, limits] of Object.entries(table)) {
        const checked = limitsOf(limits, `budgets.caller.${JSON.stringify(caller)}`)
        if (typeof checked === "string") return checked
        callers[caller] = checked
      }
      continue
    }
    const checked = limitsOf(table, `budgets.${name}`)
    if (typeof checked === "string") return checked
    providers[name] = checked
  }
  return { providers, callers }
}

const Value = Schema.Union([Schema.Number, Schema.String])
const Limits = Schema.Record(Schema.String, Value)
/** Text (a variable: JSON) or tables: a provider's limits, or `caller`'s table of callers' limits. */
const Table = Schema.Union([
  Schema.String,
  Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Union([Value, Limits])))
])

const parsedText = (text: string): unknown => {
  if (text.trim() === "") return {}
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** `[budgets.*]` tables (in a variable: the same as JSON). */
export const budgetTable = (meaning: string): Leaf<BudgetsSpec> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(Table, name).pipe(
      Config.withDefault(""),
      Config.flatMap((value) => {
        const parsed = typeof value === "string" ? parsedText(value) : value
        const budgets = parsed === undefined
          ? "budgets: expected JSON tables in a variable, e.g. {\"openai\": {\"daily_tokens\": 1000000}}"
          : budgetsOf(parsed)
        return typeof budgets === "string"
          ? Config.fail(new ConfigProvider.SourceError({ message: budgets }))
          : Config.succeed(budgets)
      })
    ),
  defaultText: "(empty)",
  meaning,
  form:
    "tables [budgets.<provider>] and [budgets.caller.\"<label>\"], each with daily_tokens, monthly_tokens, daily_cost_usd or monthly_cost_usd (numbers ≥ 0), action = block, fallback or warn, warn_at in (0, 1] (in a variable: the same as JSON)",
  secret: false
})

/** The tiers a routing rule may name (L2's classes). */
export const ROUTED_TIERS = ["TEMPLATE", "SNIPPET", "SIMPLE", "COMPLEX"] as const
export type RoutedTier = (typeof ROUTED_TIERS)[number]

const RoutingTable = Schema.Union([Schema.String, Schema.Record(Schema.String, Schema.String)])

/** Rules, tier → `provider/model` or `model`; tiers are read in any case. */
const rulesOf = (
  entries: ReadonlyArray<readonly [string, string]>
): Partial<Record<RoutedTier, string>> | undefined => {
  const rules: Partial<Record<RoutedTier, string>> = {}
  for (const [tier, target] of entries) {
    const named = ROUTED_TIERS.find((known) => known === tier.trim().toUpperCase())
    if (named === undefined || target.trim() === "") return undefined
    rules[named] = target.trim()
  }
  return rules
}

/** `[routing] TEMPLATE = "openai/gpt-4o-mini"` (in a variable: `TEMPLATE=openai/gpt-4o-mini,…`). */
export const routingTable = (meaning: string): Leaf<Readonly<Partial<Record<RoutedTier, string>>>> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(RoutingTable, name).pipe(
      Config.withDefault(""),
      Config.flatMap((value) => {
        const entries = typeof value === "string"
          ? value.split(",").filter((pair) => pair.trim() !== "").map((pair) => {
            const at = pair.indexOf("=")
            return [at < 0 ? pair : pair.slice(0, at), at < 0 ? "" : pair.slice(at + 1)] as const
          })
          : Object.entries(value)
        const rules = rulesOf(entries)
        return rules === undefined
          ? Config.fail(new ConfigProvider.SourceError({ message: "expected TIER = \"provider/model\" entries" }))
          : Config.succeed(rules)
      })
    ),
  defaultText: "(empty)",
  meaning,
  form:
    "a table of TEMPLATE, SNIPPET, SIMPLE or COMPLEX = \"provider/model\" or \"model\" (in a variable: comma-separated TIER=target pairs)",
  secret: false
})
