import type { BudgetAmount, BudgetStatus, BudgetWindowStatus } from "../core/budgets/status.ts"
import { type AdminOptions, adminRequest } from "./adminApi.ts"
import { bold, dim, green, printJson, red, yellow } from "./output.ts"

export interface BudgetsOptions extends AdminOptions {
  readonly json?: boolean
}

const percent = (ratio: number) => `${Math.floor(ratio * 100)} %`

const paintRatio = (budget: BudgetStatus, ratio: number) =>
  ratio >= 1 ? red(percent(ratio)) : ratio >= budget.warn_at ? yellow(percent(ratio)) : green(percent(ratio))

const amount = ({ used, limit }: BudgetAmount, show: (value: number) => string) =>
  limit === null ? `${show(used)} (no limit)` : `${show(used)} of ${show(limit)}`

const tokens = (value: number) => `${value} tokens`
const usd = (value: number) => `$${value.toFixed(4)}`

const windowLine = (budget: BudgetStatus, window: BudgetWindowStatus) =>
  `  ${window.window.padEnd(5)} ${window.period.padEnd(10)}  ${paintRatio(budget, window.used_ratio).padEnd(6)}  ${
    amount(window.tokens, tokens)
  }  ${amount(window.cost_usd, usd)}  ${dim(`resets ${window.resets_at}`)}`

/** One budget: its name, action and most spent share on one line, then a line per window it limits. */
export const describeBudget = (budget: BudgetStatus): Array<string> => [
  `${bold(budget.budget)} ${dim(`(${budget.scope}, action ${budget.action}, warn at ${percent(budget.warn_at)})`)}  ${
    budget.used_ratio === null ? red("unknown") : paintRatio(budget, budget.used_ratio)
  }${budget.error === undefined ? "" : `  ${red(budget.error)}`}`,
  ...budget.windows.map((window) => windowLine(budget, window))
]

/** `isartor budgets`: `GET /admin/budgets`, as lines or JSON; exit 1 when a budget is spent. */
export const budgets = async (options: BudgetsOptions): Promise<number> => {
  const answer = await adminRequest(options, "GET", "/admin/budgets")
  const list = answer.data as ReadonlyArray<BudgetStatus>
  if (options.json) printJson(answer)
  else if (list.length === 0) console.log("no budgets configured ([budgets] in isartor.toml; see docs/providers.md)")
  else for (const budget of list) for (const line of describeBudget(budget)) console.log(line)
  return list.some((budget) => (budget.used_ratio ?? 0) >= 1) ? 1 : 0
}
