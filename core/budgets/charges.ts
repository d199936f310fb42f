import { Effect } from "effect"
import { messageOf } from "../domain/errors.ts"
import { COMMAND_TIMEOUT_MS } from "../redis/RedisCommands.ts"
import type { BudgetCounters, Charged, Counts, Windows } from "./BudgetCounters.ts"
import type { Budget } from "./limits.ts"
import type { BudgetWatch } from "./watch.ts"

/** The budgets one admitted request charged, and the windows it charged them in. */
export type ChargedBudgets = ReadonlyArray<{ readonly budget: Budget; readonly windows: Windows }>

export interface Charges {
  /** One atomic check-and-add (`checked`: within the limits, unless the budget only warns). */
  readonly charge: (budget: Budget, windows: Windows, amount: Counts, checked: boolean) => Effect.Effect<Charged, Error>
  /** Takes `amount` back from each (a refusal after another budget took its share, a failed call, a correction). */
  readonly giveBack: (charged: ChargedBudgets, amount: Counts) => Effect.Effect<void>
}

export const makeCharges = (counters: BudgetCounters, watch: BudgetWatch): Charges => {
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

  const giveBack = (charged: ChargedBudgets, amount: Counts) =>
    Effect.forEach(
      charged,
      ({ budget, windows }) =>
        charge(budget, windows, { tokens: -amount.tokens, micros: -amount.micros }, false).pipe(
          Effect.flatMap((counts) => watch.observe(budget, windows, counts)),
          Effect.catch((error) =>
            Effect.logWarning(`budget ${budget.name}: cannot give back a charge: ${messageOf(error)}`)
          )
        ),
      { discard: true }
    )

  return { charge, giveBack }
}
