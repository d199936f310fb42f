/**
 * `/dashboard`: the operator's page, served from memory (assets.generated.ts). Registered only with an admin key,
 * as the admin routes are. The page holds no data, so it is served without the key; it signs in with the admin key
 * and reads `/admin/*`, which check it.
 */
import { Redacted } from "effect"
import type { Hono } from "hono"
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS, DASHBOARD_VERSION } from "./assets.generated.ts"

/** The page runs only its own script and talks only to its own gateway; nothing frames it (the key is typed in it). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'"
].join("; ")

const etag = `"${DASHBOARD_VERSION}"`

const asset = (body: string, contentType: string) => (request: Request): Response => {
  const headers = {
    "content-type": contentType,
    etag,
    // Revalidated on every load: an upgraded gateway serves its own page at once.
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": CONTENT_SECURITY_POLICY
  }
  return request.headers.get("if-none-match") === etag
    ? new Response(null, { status: 304, headers })
    : new Response(body, { headers })
}

export const dashboardRoutes = (app: Hono, adminKey: Redacted.Redacted<string>): void => {
  if (Redacted.value(adminKey) === "") return
  const page = asset(DASHBOARD_HTML, "text/html; charset=utf-8")
  const script = asset(DASHBOARD_JS, "text/javascript; charset=utf-8")
  const styles = asset(DASHBOARD_CSS, "text/css; charset=utf-8")
  app.get("/dashboard", (c) => page(c.req.raw))
  // The page's asset paths are relative to `/dashboard`, without the slash.
  app.get("/dashboard/", (c) => c.redirect("../dashboard", 308))
  app.get("/dashboard/app.js", (c) => script(c.req.raw))
  app.get("/dashboard/app.css", (c) => styles(c.req.raw))
}
