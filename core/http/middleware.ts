import { Redacted } from "effect"
import type { Context as HonoContext, MiddlewareHandler } from "hono"
import { bodyLimit } from "hono/body-limit"
import { timingSafeEqual } from "hono/utils/buffer"
import type { EndpointFamily } from "../ChatRequest.ts"
import { errorBody, familyError, jsonResponse } from "./errors.ts"

/** The credential a caller sent: `X-API-Key`, else `Authorization: Bearer`. */
export const presentedKey = (c: HonoContext): string | undefined => {
  const header = c.req.header("x-api-key")
  if (header) return header
  const authorization = c.req.header("authorization")
  const match = authorization === undefined ? null : /^Bearer\s+(.+)$/i.exec(authorization)
  return match?.[1]?.trim()
}

/** Every request must carry the gateway key, compared in constant time. (The app registers it only when a key is set.) */
export const gatewayAuth = (gatewayKey: Redacted.Redacted<string>): MiddlewareHandler => {
  const expected = Redacted.value(gatewayKey)
  return async function gatewayAuth(c, next) {
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

/**
 * Reads a request body of at most `maxBytes`, or answers 413. A declared Content-Length is checked from the
 * header alone; Hono's `bodyLimit` (which counts a streamed body as it arrives) runs only for chunked bodies,
 * because it materialises the request stream, which costs Node's fast path more than a whole exact-cache hit.
 * It is a function the route calls rather than a middleware: on Bun, each extra middleware in a route's chain
 * costs about as much as the hit itself.
 */
export const bodyReader = (maxBytes: number) => {
  const message = `request body is larger than ${maxBytes} bytes (max_body_bytes)`
  return async function readBody(c: HonoContext, family: EndpointFamily): Promise<string | Response> {
    const tooLarge = () => familyError(family, 413, message, "invalid_request_error")
    const declared = c.req.header("content-length")
    if (declared !== undefined && c.req.header("transfer-encoding") === undefined) {
      return Number(declared) > maxBytes ? tooLarge() : c.req.text()
    }
    let text: string | undefined
    const refused = await bodyLimit({ maxSize: maxBytes, onError: tooLarge })(c, async () => {
      text = await c.req.text()
    })
    return text ?? refused ?? tooLarge()
  }
}
