import { Clock, Context, Effect, Layer, Metric } from "effect"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { ConfigInvalid, messageOf, ProviderError } from "../domain/errors.ts"
import { budgetBlocked, budgetUsedRatio } from "../observability/Metrics.ts"
import { modelOf } from "../observability/usage.ts"
import { isProviderId } from "../providers/registry.ts"
import { COMMAND_TIMEOUT_MS, type RedisCommands } from "../redis/RedisCommands.ts"
import { pricesOf } from "../usage/prices.ts"
import { usageIn } from "../usage/streamUsage.ts"
import {
  type BudgetCounters,
  type Charged,
  type Counts,
  makeMemoryCounters,
  makeRedisCounters,
  type WindowLimits,
  type Windows
} from "./BudgetCounters.ts"
import {
  type Budget,
  budgetOf,
  limitOf,
  MICROS,
  mostSpentWindow,
  passedLimit,
  shown,
  type Spent,
  usedRatio
} from "./limits.ts"
import type { Spend } from "./spend.ts"
import { type BudgetStatus, statusOf } from "./status.ts"
import { calendarAt } from "./windows.ts"

/** What one admitted request charged, and to which windows: corrected by the real usage once it has answered. */
export interface BudgetHold {
  readonly provider: string
  readonly projected: Counts
  /** The estimate of the request's input tokens and its projected output, for an answer that reports no usage. */
  readonly input: number
  readonly output: number
  readonly outputOf: Spend["outputOf"]
  readonly charged: ReadonlyArray<{ readonly budget: Budget; readonly windows: Windows }>
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

const make = (config: AppConfigShape, counters: BudgetCounters, now: () => number): Budgets["Service"] => {
  const providerBudgets = new Map(
    Object.entries(config.budgets.providers).map(([id, limits]) => [id, budgetOf(id, "provider", limits)])
  )
  const callerBudgets = new Map(
    Object.entries(config.budgets.callers).map((
      [caller, limits]
    ) => [caller, budgetOf(`caller:${caller}`, "caller", limits)])
  )
  const prices = pricesOf(config)
  /** Each budget's latest counts and the window they are of, for status and warnings. */
  const seen = new Map<string, { budget: Budget; windows: Windows; charged: Spent }>()
  /** `budget|window`: the warnings already logged, so each is logged once per window. */
  const logged = new Set<string>()

  const callerOf = (spend: Spend) => {
    const bar = spend.tenant.indexOf("|")
    const hash = bar < 0 ? spend.tenant : spend.tenant.slice(0, bar)
    return (spend.callerLabel === undefined ? undefined : callerBudgets.get(spend.callerLabel)) ??
      callerBudgets.get(hash)
  }

  /** Tokens and cost a request may take: its input, estimated, and what it lets the answer take. */
  const projection = (spend: Spend, provider: string) =>
    Effect.promise(() => spend.input().catch(() => 0)).pipe(
      Effect.map((input) => {
        const output = spend.maxOutput ?? config.budget_projected_output_tokens
        const price = prices(provider, spend.model)
        const usd = price === undefined ? 0 : input * price.input + output * price.output
        return { input, output, amount: { tokens: input + output, micros: Math.ceil(usd * MICROS) } }
      })
    )

  const gauge = (budget: Budget) => budgetUsedRatio.pipe(Metric.withAttributes({ budget: budget.name }))

  /** The gauge follows each charge; crossing `warn_at` (or the limit, for `warn`) is logged once per window. */
  const observe = (budget: Budget, windows: Windows, charged: Spent) =>
    Effect.suspend(() => {
      seen.set(budget.name, { budget, windows, charged })
      const ratio = usedRatio(budget, charged)
      const crossed = ratio >= 1 ? "spent" : ratio >= budget.limits.warn_at ? "warn" : undefined
      const key = `${budget.name}|${windows[mostSpentWindow(budget, charged)]}|${crossed}`
      const line = crossed === undefined || logged.has(key) ? Effect.void : Effect.suspend(() => {
        logged.add(key)
        if (logged.size > 10_000) logged.clear()
        return Effect.logWarning(warningOf(budget, ratio))
      })
      return Effect.andThen(Metric.update(gauge(budget), ratio), line)
    })

  const warningOf = (budget: Budget, ratio: number) =>
    `budget ${JSON.stringify(budget.name)} is ${
      Math.floor(ratio * 100)
    } % spent in its current UTC window (action ${budget.limits.action})`

  /** The 429 (or the reason to skip) of a budget that cannot take `amount`. */
  const refusal = (budget: Budget, provider: string, charged: Charged, amount: Counts) => {
    const [limitName, window, unit] = passedLimit(budget, charged, amount)
    const calendar = calendarAt(now())
    const resetsAt = window === "day" ? calendar.dayEndsAt : calendar.monthEndsAt
    const limit = limitOf(budget.counted, window, unit)
    return new ProviderError({
      provider,
      reason: "BudgetExceeded",
      retried: true,
      retryAfterMs: Math.max(1000, resetsAt - now()),
      message: `budget ${JSON.stringify(budget.name)} ${limitName} is spent: ${shown(unit, charged[window][unit])} of ${
        shown(unit, limit)
      } used this UTC ${window}, and this request may take ${shown(unit, amount[unit])}; it resets at ${
        new Date(resetsAt).toISOString()
      }`
    })
  }

  const charge = (budget: Budget, windows: Windows, amount: Counts, checked: boolean) =>
    Effect.tryPromise(() =>
      counters.charge(
        budget.name,
        windows,
        amount,
        checked && budget.limits.action !== "warn" ? budget.counted : undefined
      )
    ).pipe(
      // A Redis that does not answer must not hold requests up: as slow as a cache lookup may be, no slower.
      Effect.timeoutOrElse({
        duration: COMMAND_TIMEOUT_MS,
        orElse: () => Effect.fail(new Error(`no answer within ${COMMAND_TIMEOUT_MS} ms`))
      })
    )

  /** Gives back what was charged (a refusal after another budget took its share, or a failed call). */
  const giveBack = (charged: BudgetHold["charged"], amount: Counts) =>
    Effect.forEach(
      charged,
      ({ budget, windows }) =>
        charge(budget, windows, { tokens: -amount.tokens, micros: -amount.micros }, false).pipe(
          Effect.flatMap((counts) => observe(budget, windows, counts)),
          Effect.catch((error) =>
            Effect.logWarning(`budget ${budget.name}: cannot give back a charge: ${messageOf(error)}`)
          )
        ),
      { discard: true }
    )

  const admit = (spend: Spend, provider: string, checkCaller: boolean) =>
    Effect.gen(function*() {
      const providerBudget = providerBudgets.get(provider)
      const callerBudget = callerOf(spend)
      if (providerBudget === undefined && callerBudget === undefined) return { _tag: "Go", hold: undefined } as const
      const { input, output, amount } = yield* projection(spend, provider)
      const windows = calendarAt(now()).windows
      const planned = [
        ...(providerBudget ? [{ budget: providerBudget, checked: true }] : []),
        ...(callerBudget
          ? [{ budget: callerBudget, checked: checkCaller || callerBudget.limits.action !== "fallback" }]
          : [])
      ]
      const charged: Array<BudgetHold["charged"][number]> = []
      for (const { budget, checked } of planned) {
        const counts = yield* charge(budget, windows, amount, checked).pipe(
          // A budget store that is down does not stop the gateway: the request goes on uncounted, and the log says so.
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`budget ${budget.name}: not counted: ${messageOf(error)}`), undefined)
          )
        )
        if (counts === undefined) continue
        yield* observe(budget, windows, counts)
        if (counts.admitted) {
          charged.push({ budget, windows })
          continue
        }
        yield* giveBack(charged, amount)
        yield* Metric.update(budgetBlocked.pipe(Metric.withAttributes({ budget: budget.name })), 1)
        const error = refusal(budget, provider, counts, amount)
        if (budget.limits.action === "fallback") return { _tag: "Skip", error } as const
        return yield* Effect.fail(error)
      }
      return {
        _tag: "Go",
        hold: { provider, projected: amount, input, output, outputOf: spend.outputOf, charged }
      } as const
    })

  const settle = (hold: BudgetHold | undefined, completion: string | undefined) => {
    if (hold === undefined || hold.charged.length === 0) return Effect.void
    if (completion === undefined) return giveBack(hold.charged, hold.projected)
    // An answer without usage (a stream whose client did not ask for it): its input as estimated, its output as its
    // API estimates it (a chat answer's from its length), else as projected.
    const usage = usageIn(completion) ??
      { input: hold.input, output: hold.outputOf === undefined ? hold.output : hold.outputOf(completion) }
    const price = prices(hold.provider, modelOf(completion))
    const real = {
      tokens: usage.input + usage.output,
      micros: price === undefined ? 0 : Math.ceil((usage.input * price.input + usage.output * price.output) * MICROS)
    }
    return giveBack(hold.charged, {
      tokens: hold.projected.tokens - real.tokens,
      micros: hold.projected.micros - real.micros
    })
  }

  /** Each budget's counts in the current windows (read with a charge of nothing). */
  const status = Effect.suspend(() => {
    const calendar = calendarAt(now())
    return Effect.forEach(
      [...providerBudgets.values(), ...callerBudgets.values()],
      (budget) =>
        charge(budget, calendar.windows, { tokens: 0, micros: 0 }, false).pipe(
          Effect.map((counts) => statusOf(budget, calendar, counts)),
          Effect.catch((error) =>
            Effect.succeed(statusOf(budget, calendar, undefined, `its counters did not answer: ${messageOf(error)}`))
          )
        )
    )
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

  return Budgets.of({ active: true, admit, settle, status, warnings })
}
