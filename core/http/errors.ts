import type { BadRequest, ProviderError } from "../errors.ts"

/** The OpenAI error body every route answers with: SDKs read `error.message`. */
export const errorBody = (message: string, type: string, extra: Record<string, unknown> = {}) =>
  ({ error: { message, type, ...extra } })

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

export const badRequestResponse = (error: BadRequest): Response =>
  json(error.status, errorBody(error.message, "invalid_request_error", { param: error.param ?? null, code: null }))

/**
 * Upstream failures: rate limits stay 429 (with Retry-After), the client's own mistakes the upstream caught stay
 * 4xx, and everything that is the gateway's or the provider's fault is 502. A rejected provider key is 502, not
 * 401: the caller's credentials were fine, the gateway's were not.
 */
export const providerErrorResponse = (error: ProviderError, pipelineHeaders: Record<string, string>): Response => {
  const status = error.reason === "RateLimited"
    ? 429
    : error.reason === "BadRequest" || error.reason === "NotFound"
    ? (error.upstreamStatus ?? 400)
    : 502
  const headers: Record<string, string> = { ...pipelineHeaders, "x-isartor-provider": error.provider }
  if (error.retryAfterMs !== undefined) headers["retry-after"] = String(Math.ceil(error.retryAfterMs / 1000))
  const type = status === 429 ? "rate_limit_error" : status < 500 ? "invalid_request_error" : "upstream_error"
  return json(
    status,
    errorBody(`provider ${error.provider}: ${error.message}`, type, {
      code: error.reason,
      provider: error.provider,
      ...(error.upstreamStatus !== undefined ? { upstream_status: error.upstreamStatus } : {})
    }),
    headers
  )
}

export const jsonResponse = json
