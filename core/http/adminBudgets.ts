/**
 * `GET /admin/budgets`: each configured budget in its current UTC windows — used and limit in tokens and USD, the
 * share spent, its action and when each window resets — behind the admin key like the rest of `/admin/*`.
 */
import { type Effect, Exit, Redacted } from "effect"
import type { Hono } from "hono"
import type { BudgetStatus } from "../budgets/status.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { familyError, jsonResponse } from "./errors.ts"

export interface BudgetRouteDependencies {
  readonly config: AppConfigShape
  readonly status: Effect.Effect<ReadonlyArray<BudgetStatus>>
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

/** Registered after the admin key's middleware (core/http/cache.ts), and only with an admin key: else a 404. */
export const adminBudgetRoutes = (app: Hono, deps: BudgetRouteDependencies): void => {
  if (Redacted.value(deps.config.admin_api_key) === "") return
  app.get("/admin/budgets", async () => {
    const exit = await deps.run(deps.status)
    if (Exit.isFailure(exit)) {
      return familyError("openai", 503, "the budgets' counters did not answer; try again", "status_unavailable")
    }
    return jsonResponse(200, { object: "list", data: exit.value })
  })
}
