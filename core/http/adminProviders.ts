/**
 * `GET /admin/providers`: each provider's circuit breaker, retry budget and pooled keys (masked: `sk-…abcd`), behind
 * the admin key like the rest of `/admin/*`; and the short form `/health` shows of the same.
 */
import { type Effect, Exit, Redacted } from "effect"
import type { Hono } from "hono"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { PipelineStatus } from "../pipeline/Pipeline.ts"
import type { ProviderStatus } from "../providers/health/ProviderLink.ts"
import { familyError, jsonResponse } from "./errors.ts"

export interface ProviderRouteDependencies {
  readonly config: AppConfigShape
  readonly status: Effect.Effect<PipelineStatus>
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

/** What `/health` says of each provider: its breaker and how many of its keys are usable, no key at all. */
export const providerHealth = (providers: ReadonlyArray<ProviderStatus>) =>
  Object.fromEntries(providers.map((provider) => [provider.provider, {
    role: provider.role,
    breaker: provider.breaker.state,
    ...(provider.breaker.open_until === undefined ? {} : { open_until: provider.breaker.open_until }),
    keys: {
      total: provider.keys.length,
      ok: provider.keys.filter((key) => key.state === "ok").length,
      cooling: provider.keys.filter((key) => key.state === "cooling").length,
      invalid: provider.keys.filter((key) => key.state === "invalid").length
    }
  }]))

/** Registered after the admin key's middleware (core/http/cache.ts), and only with an admin key: else a 404. */
export const adminProviderRoutes = (app: Hono, deps: ProviderRouteDependencies): void => {
  if (Redacted.value(deps.config.admin_api_key) === "") return
  app.get("/admin/providers", async () => {
    const exit = await deps.run(deps.status)
    if (Exit.isFailure(exit)) {
      return familyError("openai", 503, "the gateway's status did not answer; try again", "status_unavailable")
    }
    return jsonResponse(200, {
      object: "list",
      key_strategy: deps.config.key_strategy,
      data: exit.value.providers ?? []
    })
  })
}
