import { Redacted } from "effect"
import type { Context as HonoContext, MiddlewareHandler } from "hono"
import { bodyLimit } from "hono/body-limit"
import { timingSafeEqual } from "hono/utils/buffer"
import type { EndpointFamily } from "../domain/ChatRequest.ts"
import { receivedAsBytes, type ReceivedBody } from "../domain/receivedBody.ts"
import { familyError } from "./errors.ts"
import { labelOfKey, type NamedGatewayKey } from "./gatewayKeys.ts"

/**
 * The headers provider SDKs send a key in: OpenAI-style `Authorization` (any scheme), Anthropic's `x-api-key`,
 * Azure's `api-key`, Gemini's `x-goog-api-key`, and Azure API Management's subscription key.
 */
const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "api-key", "x-goog-api-key", "ocp-apim-subscription-key"]

/** The token of an `Authorization: Bearer <token>` value; "" for any other value. */
const bearerToken = (authorization: string | undefined) =>
  authorization !== undefined && /^bearer[ \t]/i.test(authorization) ? authorization.slice(7).trim() : ""

/**
 * Every credential a caller sent, in any header a provider SDK uses, as one string for the cache scope (hashed
 * before use): callers that differ in any of them never share an entry. The same key in `X-API-Key` and
 * `Authorization: Bearer` is the same caller. Empty when none was sent.
 */
export const presentedCredentials = (headers: Pick<Headers, "get">): string => {
  // Nearly every caller sends one credential: no set and no sort for it (this runs on every exact hit).
  let first = ""
  let more: Array<string> | undefined
  for (const name of CREDENTIAL_HEADERS) {
    const value = headers.get(name)?.trim()
    if (!value) continue
    // A Bearer token is the key itself; any other Authorization value (`Basic …`, a bare key) is taken whole.
    const secret = (name === "authorization" && bearerToken(value)) || value
    if (first === "") first = secret
    else if (secret !== first) (more ??= [first]).push(secret)
  }
  return more === undefined ? first : [...new Set(more)].sort().join("\n")
}

/**
 * The gateway key a caller presented: `X-API-Key`, else `api-key` (what Azure SDKs send, so they can be pointed at
 * the gateway as they are), else `Authorization: Bearer`, else Gemini's `x-goog-api-key`.
 */
export const presentedGatewayKey = (headers: Pick<Headers, "get">): string | undefined =>
  headers.get("x-api-key") || headers.get("api-key") || bearerToken(headers.get("authorization") ?? undefined) ||
  headers.get("x-goog-api-key") || undefined

/** A request's headers with Gemini's `?key=` as its `x-goog-api-key` when it sent no such header. */
export const withQueryKey = (request: Request): Pick<Headers, "get"> => ({
  get: (name) => {
    const value = request.headers.get(name)
    if (value !== null || name !== "x-goog-api-key") return value
    const query = request.url.indexOf("?")
    return query < 0 ? null : new URLSearchParams(request.url.slice(query + 1)).get("key")
  }
})

/**
 * Whether a presented key is the gateway key (`gateway_api_key`) or one of the named `gateway_keys` — whose label
 * then goes to `caller`, for the usage ledger — compared in constant time. The one check of every route and `/metrics`.
 */
export const gatewayKeyAccepts = (
  gatewayKey: Redacted.Redacted<string>,
  named: ReadonlyArray<NamedGatewayKey> = []
) => {
  const expected = Redacted.value(gatewayKey)
  return async (presented: string, caller?: { label: string | undefined }) => {
    if (expected !== "" && await timingSafeEqual(presented, expected)) return true
    const label = named.length === 0 ? undefined : await labelOfKey(presented, named)
    if (label !== undefined && caller !== undefined) caller.label = label
    return label !== undefined
  }
}

/**
 * The gateway key's check (`gatewayKeyAccepts`): `undefined` when the request carries the key, whose label the
 * request's exchange then carries to the usage ledger, else the 401 in the format of the client the route serves
 * (`family`).
 */
export const gatewayKeyCheck = (gatewayKey: Redacted.Redacted<string>, named: ReadonlyArray<NamedGatewayKey> = []) => {
  const accepted = gatewayKeyAccepts(gatewayKey, named)
  return async (
    headers: Pick<Headers, "get">,
    family: EndpointFamily,
    caller?: { label: string | undefined }
  ): Promise<Response | undefined> => {
    const presented = presentedGatewayKey(headers)
    if (presented !== undefined && await accepted(presented, caller)) return undefined
    return familyError(
      family,
      401,
      presented === undefined
        ? "missing gateway API key: send X-API-Key: <key>, api-key: <key> or Authorization: Bearer <key>"
        : "invalid gateway API key",
      "authentication_error",
      { code: "invalid_api_key" },
      { "www-authenticate": "Bearer" }
    )
  }
}

/** The request's exchange, which the edge hands the app (`c.env`): where a named key's label goes. */
const exchangeOf = (c: HonoContext) =>
  (c.env as { readonly exchange?: { label: string | undefined } } | undefined)?.exchange

/**
 * Every request must carry the gateway key. (The app registers it only when a key is set.) The 401 is in the format
 * of the client the route serves: `familyOf` says which.
 */
export const gatewayAuth = (
  check: ReturnType<typeof gatewayKeyCheck>,
  familyOf: (path: string) => EndpointFamily
): MiddlewareHandler => {
  return async function gatewayAuth(c, next) {
    const family = familyOf(c.req.path)
    const headers = family === "gemini" ? withQueryKey(c.req.raw) : c.req.raw.headers
    return (await check(headers, family, exchangeOf(c))) ?? next()
  }
}

/** The 413 of a body over `maxBytes` (`max_body_bytes`), in the client's format. */
const bodyTooLarge = (maxBytes: number) => {
  const message = `request body is larger than ${maxBytes} bytes (max_body_bytes)`
  return (family: EndpointFamily): Response => familyError(family, 413, message, "invalid_request_error")
}

/**
 * Below this declared size a body is read as text (the runtime's own decoding, Bun's fastest on an exact hit) and
 * encoded again if it goes upstream, which costs a small body less than keeping its bytes.
 */
const KEEP_BYTES_FROM = 16 * 1024

/** Bodies already read, by request: the exact-hit lane reads a body to look it up, and the route takes it over. */
const bodiesRead = new WeakMap<Request, ReceivedBody>()

/**
 * A request's body, read once, whoever asks first: the lane, then the route, share one read. A large one is read as
 * bytes, which stay for the upstream, and decoded (as `Request.text()` decodes) only if something reads its text.
 */
export const readReceived = (request: Request): Promise<ReceivedBody> => {
  const known = bodiesRead.get(request)
  if (known !== undefined) {
    // The route takes the body over: the runtime keeps its request alive until the answer has ended (a stream's
    // whole life), and with it anything this map still holds for it.
    bodiesRead.delete(request)
    return Promise.resolve(known)
  }
  // Not an async function: a small body's exact hit waits on no more promises than its `text()`.
  if (!(Number(request.headers.get("content-length")) >= KEEP_BYTES_FROM)) return request.text().then(textOnly)
  return request.arrayBuffer().then((buffer) => {
    // The text is decoded without a leading byte-order mark (as `text()` decodes); the bytes sent on lose it too,
    // or the upstream is sent a body that is not JSON.
    const received = receivedAsBytes(hasByteOrderMark(buffer) ? new Uint8Array(buffer, 3) : new Uint8Array(buffer))
    // Kept for a later reader only when there are bytes to keep: a small body's exact hit stores nothing.
    bodiesRead.set(request, received)
    return received
  })
}
const textOnly = (text: string): ReceivedBody => ({ text })
const hasByteOrderMark = (buffer: ArrayBuffer) => {
  const head = new Uint8Array(buffer, 0, Math.min(3, buffer.byteLength))
  return head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf
}

/**
 * The request whose body was read, handed on as it is: whoever reads its body next does so through `readReceived`,
 * which answers with what was read. No new `Request` is built around the body: on Bun that copied a large body
 * whole, on Node it wrapped it in undici's, for routes that never read it from the request.
 */
export const withReceived = (request: Request, received: ReceivedBody): Request => {
  bodiesRead.set(request, received)
  return request
}

/**
 * Reads a request body of at most `maxBytes`, or answers 413. A declared Content-Length is checked from the
 * header alone; Hono's `bodyLimit` (which counts a streamed body as it arrives) runs only for chunked bodies,
 * because it materialises the request stream, which costs Node's fast path more than a whole exact-cache hit.
 * It is a function the route calls rather than a middleware: on Bun, each extra middleware in a route's chain
 * costs about as much as the hit itself.
 */
export const bodyReader = (maxBytes: number) => {
  const tooLargeFor = bodyTooLarge(maxBytes)
  return async function readBody(c: HonoContext, family: EndpointFamily): Promise<ReceivedBody | Response> {
    const tooLarge = () => tooLargeFor(family)
    const declared = c.req.header("content-length")
    if (declared !== undefined && c.req.header("transfer-encoding") === undefined) {
      return Number(declared) > maxBytes ? tooLarge() : readReceived(c.req.raw)
    }
    let text: string | undefined
    const refused = await bodyLimit({ maxSize: maxBytes, onError: tooLarge })(c, async () => {
      text = await c.req.text()
    })
    return text !== undefined ? { text } : refused ?? tooLarge()
  }
}
