import { Clock, Context, Effect, Layer, Metric } from "effect"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { ConfigInvalid, messageOf, type ProviderError } from "../domain/errors.ts"
import { budgetBlocked } from "../observability/Metrics.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"
import { modelOf } from "../observability/usage.ts"
import { isProviderId } from "../providers/registry.ts"
import type { RedisCommands } from "../redis/RedisCommands.ts"
import { pricesOf } from "../usage/prices.ts"
import { usageIn } from "../usage/streamUsage.ts"
import { type BudgetCounters, type Counts, makeMemoryCounters, makeRedisCounters } from "./BudgetCounters.ts"
import { type ChargedBudgets, type Charges, makeCharges } from "./charges.ts"
import { type Budget, budgetOf, MICROS, refusalOf } from "./limits.ts"
import type { Spend } from "./spend.ts"
import { type BudgetStatus, statusOf } from "./status.ts"
import { type BudgetWatch, makeBudgetWatch } from "./watch.ts"
import { calendarAt } from "./windows.ts"

/** What one admitted request charged, and to which windows: corrected by the real usage once it has answered. */
export interface BudgetHold {
  readonly provider: string
  readonly projected: Counts
  /** The estimate of the request's input tokens and its projected output, for an answer that reports no usage. */
  readonly input: number
  readonly output: number
  readonly outputOf: Spend["outputOf"]
  readonly charged: ChargedBudgets
}

export type Admission =
  | { readonly _tag: "Go"; readonly hold: BudgetHold | undefined }
  /** A `fallback` budget is spent: this provider is skipped, and the error says why if no other answers. */
  | { readonly _tag: "Skip"; readonly error: ProviderError }

/** Start-up checks: a provider budget must name a provider. */
export const checkBudgets = (config: AppConfigShape): ReadonlyArray<string> =>
  Object.keys(config.budgets.providers).flatMap((name) =>
    isProviderId(name) ? [] : [`budgets.${name}: ${JSON.stringify(name)} is not a provider`]
  )

/**
 * `[budgets]`: before each upstream call the request's projected tokens (its input, estimated, and its `max_tokens`)
 * are charged to the budgets it spends — its provider's and its caller's — in one atomic check-and-add per budget;
 * after the answer the charge is corrected to the real usage, or given back when the call failed.
 */
export class Budgets extends Context.Service<Budgets, {
  /** Whether any budget is configured: without one, `admit` is never asked. */
  readonly active: boolean
  /** Charges a request about to go to `provider`; `checkCaller` false: the caller's fallback budget is only charged. */
  readonly admit: (
    spend: Spend,
    provider: string,
    checkCaller: boolean
  ) => Effect.Effect<Admission, ProviderError>
  /** The answer's real usage replaces the projection; `undefined` gives the charge back (nothing was answered). */
  readonly settle: (hold: BudgetHold | undefined, completion: string | undefined) => Effect.Effect<void>
  readonly status: Effect.Effect<ReadonlyArray<BudgetStatus>>
  /** Budgets past their `warn_at` (or spent) in their current window: `/admin/overview`'s warnings. */
  readonly warnings: Effect.Effect<ReadonlyArray<string>>
}>()("isartor/Budgets") {
  /** No budgets: nothing is charged. */
  static readonly layerNone = Layer.succeed(
    Budgets,
    Budgets.of({
      active: false,
      admit: () => Effect.succeed({ _tag: "Go", hold: undefined }),
      settle: () => Effect.void,
      status: Effect.succeed([]),
      warnings: Effect.succeed([])
    })
  )

  static readonly layer = (redis: RedisCommands | undefined) =>
    Layer.effect(
      Budgets,
      Effect.gen(function*() {
        const config = yield* AppConfig
        const problems = checkBudgets(config)
        if (problems.length > 0) {
          return yield* new ConfigInvalid({ message: `invalid configuration:\n  ${problems.join("\n  ")}` })
        }
        const clock = yield* Clock.Clock
        return make(config, redis ? makeRedisCounters(redis) : makeMemoryCounters(), () =>
          clock.currentTimeMillisUnsafe())
      })
    )

  /** Budgets when any is configured, else none. */
  static readonly layerConfig = (config: AppConfigShape, redis: RedisCommands | undefined) =>
    Object.keys(config.budgets.providers).length + Object.keys(config.budgets.callers).length === 0
      ? Budgets.layerNone
      : Budgets.layer(redis)
}

/** How often a budget store that keeps failing is named in the log. */
const STORE_WARNING_INTERVAL_MS = 30_000

/** A gateway's budgets and what keeps their books: each step below is one of the service's operations. */
interface Books {
  readonly config: AppConfigShape
  readonly prices: ReturnType<typeof pricesOf>
  readonly now: () => number
  readonly providerBudgets: ReadonlyMap<string, Budget>
  readonly callerBudgets: ReadonlyMap<string, Budget>
  readonly charges: Charges
  readonly watch: BudgetWatch
  /** Says when a budget's store failure is to be logged again: once per interval, with the count since. */
  readonly storeFailures: ReturnType<typeof makeReportThrottle>
}

/** A caller's budget: by its key's label, else by its scope hash. */
const callerBudgetOf = (books: Books, spend: Spend) => {
  const bar = spend.tenant.indexOf("|")
  const hash = bar < 0 ? spend.tenant : spend.tenant.slice(0, bar)
  return (spend.callerLabel === undefined ? undefined : books.callerBudgets.get(spend.callerLabel)) ??
    books.callerBudgets.get(hash)
}

/** Tokens and cost a request may take: its input, estimated, and what it lets the answer take. */
const projection = (books: Books, spend: Spend, provider: string) =>
  Effect.promise(() => spend.input().catch(() => 0)).pipe(
    Effect.map((input) => {
      const output = spend.maxOutput ?? books.config.budget_projected_output_tokens
      const price = books.prices(provider, spend.model)
      const usd = price === undefined ? 0 : input * price.input + output * price.output
      return { input, output, amount: { tokens: input + output, micros: Math.ceil(usd * MICROS) } }
    })
  )

/** Charges each budget a request spends, in turn; the first that cannot take it refuses, and the others get theirs back. */
const admitWith = (books: Books) => (spend: Spend, provider: string, checkCaller: boolean) =>
  Effect.gen(function*() {
    const providerBudget = books.providerBudgets.get(provider)
    const callerBudget = callerBudgetOf(books, spend)
    if (providerBudget === undefined && callerBudget === undefined) return { _tag: "Go", hold: undefined } as const
    const { input, output, amount } = yield* projection(books, spend, provider)
    const windows = calendarAt(books.now()).windows
    const planned = [
      ...(providerBudget ? [{ budget: providerBudget, checked: true }] : []),
      ...(callerBudget
        ? [{ budget: callerBudget, checked: checkCaller || callerBudget.limits.action !== "fallback" }]
        : [])
    ]
    const charged: Array<ChargedBudgets[number]> = []
    for (const { budget, checked } of planned) {
      const counts = yield* books.charges.charge(budget, windows, amount, checked).pipe(
        // A budget store that is down does not stop the gateway: the request goes on uncounted, and the log says so.
        Effect.catch((error) => {
          const count = books.storeFailures(budget.name, books.now())
          return Effect.as(
            count === undefined
              ? Effect.void
              : Effect.logWarning(`budget ${budget.name}: not counted (${count} time(s)): ${messageOf(error)}`),
            undefined
          )
        })
      )
      if (counts === undefined) continue
      yield* books.watch.observe(budget, windows, counts)
      if (counts.admitted) {
        charged.push({ budget, windows })
        continue
      }
      yield* books.charges.giveBack(charged, amount)
      yield* Metric.update(budgetBlocked.pipe(Metric.withAttributes({ budget: budget.name })), 1)
      const error = refusalOf(budget, provider, counts, amount, books.now())
      if (budget.limits.action === "fallback") return { _tag: "Skip", error } as const
      return yield* Effect.fail(error)
    }
    const hold: BudgetHold = { provider, projected: amount, input, output, outputOf: spend.outputOf, charged }
    return { _tag: "Go", hold } as const
  })

/** Corrects a charge to the answer's real usage, or gives it all back when nothing was answered. */
const settleWith = (books: Books) => (hold: BudgetHold | undefined, completion: string | undefined) => {
  if (hold === undefined || hold.charged.length === 0) return Effect.void
  if (completion === undefined) return books.charges.giveBack(hold.charged, hold.projected)
  // An answer without usage (a stream whose client did not ask for it): its input as estimated, its output as its
  // API estimates it (a chat answer's from its length), else as projected.
  const usage = usageIn(completion) ??
    { input: hold.input, output: hold.outputOf === undefined ? hold.output : hold.outputOf(completion) }
  const price = books.prices(hold.provider, modelOf(completion))
  const real = {
    tokens: usage.input + usage.output,
    micros: price === undefined ? 0 : Math.ceil((usage.input * price.input + usage.output * price.output) * MICROS)
  }
  return books.charges.giveBack(hold.charged, {
    tokens: hold.projected.tokens - real.tokens,
    micros: hold.projected.micros - real.micros
  })
}

/** Each budget's counts in the current windows (read with a charge of nothing). */
const statusWith = (books: Books) =>
  Effect.suspend(() => {
    const calendar = calendarAt(books.now())
    return Effect.forEach(
      [...books.providerBudgets.values(), ...books.callerBudgets.values()],
      (budget) =>
        books.charges.charge(budget, calendar.windows, { tokens: 0, micros: 0 }, false).pipe(
          Effect.map((counts) => statusOf(budget, calendar, counts)),
          Effect.catch((error) =>
            Effect.succeed(statusOf(budget, calendar, undefined, `its counters did not answer: ${messageOf(error)}`))
          )
        )
    )
  })

const make = (config: AppConfigShape, counters: BudgetCounters, now: () => number): Budgets["Service"] => {
  const watch = makeBudgetWatch(now)
  const books: Books = {
    config,
    prices: pricesOf(config),
    now,
    providerBudgets: new Map(
      Object.entries(config.budgets.providers).map(([id, limits]) => [id, budgetOf(id, "provider", limits)])
    ),
    callerBudgets: new Map(
      Object.entries(config.budgets.callers).map((
        [caller, limits]
      ) => [caller, budgetOf(`caller:${caller}`, "caller", limits)])
    ),
    charges: makeCharges(counters, watch),
    watch,
    storeFailures: makeReportThrottle(STORE_WARNING_INTERVAL_MS)
  }
  return Budgets.of({
    active: true,
    admit: admitWith(books),
    settle: settleWith(books),
    status: statusWith(books),
    warnings: watch.warnings
  })
}
