/**
 * Cache management over HTTP: the admin API (`/admin/cache/…`, behind its own key, absent without one) and a
 * caller's own view (`/v1/cache/{id}`: its entries only). An entry another caller owns is a 404, as one that does
 * not exist: ids leak nothing.
 */
import { Effect, Exit, Redacted } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import { timingSafeEqual } from "hono/utils/buffer"
import type { CacheAdmin } from "../cache/CacheAdmin.ts"
import type { EntryFilter } from "../cache/CacheEntry.ts"
import { familyError, jsonResponse } from "./errors.ts"

export interface CacheRouteDependencies {
  readonly admin: CacheAdmin["Service"]
  readonly adminKey: Redacted.Redacted<string>
  /** The scope of the caller of a request: its credential's hash and session. */
  readonly tenantOf: (c: HonoContext) => string
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

const notFound = (id: string) => familyError("openai", 404, `no cache entry ${id}`, "invalid_request_error")

const unavailable = (message: string) => familyError("openai", 503, message, "cache_unavailable")

/** Filters from JSON (purge) or a query string (list); a value of the wrong type is a 400 naming it. */
const filterOf = (source: Record<string, unknown>): EntryFilter | string => {
  const text = (name: string) => {
    const value = source[name]
    return value === undefined || value === ""
      ? undefined
      : typeof value === "string"
      ? value
      : `${name}: expected text`
  }
  const tenant = text("tenant")
  const model = text("model")
  const questionContains = text("question_contains")
  for (const value of [tenant, model, questionContains]) if (value?.endsWith(": expected text")) return value
  const older = source.older_than_secs
  const olderThanSecs = older === undefined || older === "" ? undefined : Number(older)
  if (olderThanSecs !== undefined && !(olderThanSecs >= 0)) return "older_than_secs: expected a number of seconds ≥ 0"
  return { tenant, model, questionContains, olderThanSecs }
}

/** Runs a cache effect and renders its value; a cache that fails (Redis down) is a 503 saying so. */
const answerWith =
  (run: CacheRouteDependencies["run"]) =>
  async <A>(effect: Effect.Effect<A, unknown>, respond: (value: A) => Response) => {
    const exit = await run(effect)
    return Exit.isSuccess(exit) ? respond(exit.value) : unavailable("the cache did not answer; try again")
  }

export const cacheRoutes = (app: Hono, deps: CacheRouteDependencies): void => {
  const answer = answerWith(deps.run)

  // A caller's own entries: the id from an answer's X-Isartor-Cache-Key.
  app.get("/v1/cache/:id", (c) => {
    const id = c.req.param("id")
    return answer(deps.admin.get(id, deps.tenantOf(c)), (view) => (view ? jsonResponse(200, view) : notFound(id)))
  })
  // A caller's word on an L1b answer it got: `{"correct": false}` stops the entry answering other questions.
  app.post("/v1/cache/:id/feedback", async (c) => {
    const id = c.req.param("id")
    const body = await c.req.json<unknown>().catch(() => undefined)
    const correct = typeof body === "object" && body !== null ? (body as { correct?: unknown }).correct : undefined
    if (typeof correct !== "boolean") {
      return familyError("openai", 400, "request body must be {\"correct\": true|false}", "invalid_request_error")
    }
    return answer(deps.admin.feedback(id, deps.tenantOf(c), correct), (outcome) =>
      outcome === "missing"
        ? notFound(id)
        : outcome === "exact"
        ? familyError(
          "openai",
          400,
          `${id} is an exact-cache entry (the answer to that very question); feedback is for L1b answers (l1b_…)`,
          "invalid_request_error"
        )
        : jsonResponse(200, { id, correct, recorded: true }))
  })
  app.delete("/v1/cache/:id", (c) => {
    const id = c.req.param("id")
    return answer(
      deps.admin.remove(id, deps.tenantOf(c)),
      (removed) => (removed > 0 ? jsonResponse(200, { id, deleted: removed }) : notFound(id))
    )
  })
}

/** The admin routes, registered only with an admin key (without one they do not exist: 404). */
export const adminCacheRoutes = (app: Hono, deps: CacheRouteDependencies): void => {
  const expected = Redacted.value(deps.adminKey)
  if (expected === "") return
  const answer = answerWith(deps.run)
  app.use("/admin/*", async function adminAuth(c, next) {
    const authorization = c.req.header("authorization") ?? ""
    const presented = c.req.header("x-admin-key") ??
      (/^bearer[ \t]/i.test(authorization) ? authorization.slice(7).trim() : undefined)
    if (presented !== undefined && await timingSafeEqual(presented, expected)) return next()
    return familyError(
      "openai",
      401,
      presented === undefined
        ? "missing admin key: send Authorization: Bearer <admin key> or X-Admin-Key: <admin key>"
        : "invalid admin key",
      "authentication_error",
      { code: "invalid_api_key" },
      { "www-authenticate": "Bearer" }
    )
  })
  app.get("/admin/cache", (c) => {
    const filter = filterOf(c.req.query())
    if (typeof filter === "string") return familyError("openai", 400, filter, "invalid_request_error")
    return answer(deps.admin.list(filter), (entries) => jsonResponse(200, { object: "list", data: entries }))
  })
  app.get("/admin/cache/:id", (c) => {
    const id = c.req.param("id")
    return answer(deps.admin.get(id), (view) => (view ? jsonResponse(200, view) : notFound(id)))
  })
  app.delete("/admin/cache/:id", (c) => {
    const id = c.req.param("id")
    return answer(
      deps.admin.remove(id),
      (removed) => (removed > 0 ? jsonResponse(200, { id, deleted: removed }) : notFound(id))
    )
  })
  app.post("/admin/cache/purge", async (c) => {
    const body = await c.req.json<unknown>().catch(() => undefined)
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return familyError("openai", 400, "request body must be a JSON object of filters", "invalid_request_error")
    }
    const fields = body as Record<string, unknown>
    const filter = filterOf(fields)
    if (typeof filter === "string") return familyError("openai", 400, filter, "invalid_request_error")
    if (Object.values(filter).every((value) => value === undefined)) {
      return familyError(
        "openai",
        400,
        "purge needs at least one filter (tenant, model, older_than_secs, question_contains); POST /admin/cache/flush removes everything",
        "invalid_request_error"
      )
    }
    const dryRun = fields.dry_run === true
    return answer(deps.admin.purge(filter, dryRun), (result) => jsonResponse(200, { dry_run: dryRun, ...result }))
  })
  app.post(
    "/admin/cache/flush",
    () => answer(deps.admin.flush, (removed) => jsonResponse(200, { removed, total: removed.l1a + removed.l1b }))
  )
}
