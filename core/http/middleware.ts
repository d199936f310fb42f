import { Redacted } from "effect"
import type { Context as HonoContext, MiddlewareHandler } from "hono"
import { timingSafeEqual } from "hono/utils/buffer"
import { errorBody, jsonResponse } from "./errors.ts"

/** The credential a caller sent: `X-API-Key`, else `Authorization: Bearer`. */
export const presentedKey = (c: HonoContext): string | undefined => {
  const header = c.req.header("x-api-key")
  if (header) return header
  const authorization = c.req.header("authorization")
  const match = authorization === undefined ? null : /^Bearer\s+(.+)$/i.exec(authorization)
  return match?.[1]?.trim()
}

/** Off while the key is empty; otherwise every request needs it, compared in constant time. */
export const gatewayAuth = (gatewayKey: Redacted.Redacted<string>): MiddlewareHandler => {
  const expected = Redacted.value(gatewayKey)
  return async function gatewayAuth(c, next) {
    if (expected === "") return next()
    const presented = presentedKey(c)
    if (presented !== undefined && await timingSafeEqual(presented, expected)) return next()
    return jsonResponse(
      401,
      errorBody(
        presented === undefined
          ? "missing gateway API key: send X-API-Key: <key> or Authorization: Bearer <key>"
          : "invalid gateway API key",
        "authentication_error",
        { code: "invalid_api_key" }
      ),
      { "www-authenticate": "Bearer" }
    )
  }
}
