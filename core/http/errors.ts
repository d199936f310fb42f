import type { EndpointFamily } from "../domain/ChatRequest.ts"
import type { BadRequest, ProviderError } from "../domain/errors.ts"
import { geminiErrorBody } from "../formats/gemini/response.ts"

/** The OpenAI error body most routes answer with: SDKs read `error.message`. */
export const errorBody = (message: string, type: string, extra: Record<string, unknown> = {}) => ({
  error: { message, type, ...extra }
})

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

const anthropicType = (status: number) =>
  status === 400 || status === 422
    ? "invalid_request_error"
    : status === 401
    ? "authentication_error"
    : status === 403
    ? "permission_error"
    : status === 404
    ? "not_found_error"
    : status === 413
    ? "request_too_large"
    : status === 429
    ? "rate_limit_error"
    : "api_error"

/**
 * An error in the client's own API format: Anthropic clients get `{"type":"error","error":{…}}`, Gemini clients
 * `{"error":{"code","message","status"}}`.
 */
export const familyError = (
  family: EndpointFamily,
  status: number,
  message: string,
  openaiType: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {}
): Response => {
  // The gateway's own refusals (a wrong key, a bad body, a directive it forbids) answer the same the next time:
  // the OpenAI and Anthropic SDKs, and so Claude Code, retry some of them (401) unless told not to.
  const final = status >= 400 && status !== 429 && status < 500 || status === 504
  const withRetry = final && headers["x-should-retry"] === undefined
    ? { ...headers, "x-should-retry": "false" }
    : headers
  return family === "anthropic"
    ? jsonResponse(status, { type: "error", error: { type: anthropicType(status), message } }, withRetry)
    : family === "gemini"
    ? jsonResponse(status, geminiErrorBody(status, message), withRetry)
    : jsonResponse(status, errorBody(message, openaiType, extra), withRetry)
}

export const badRequestResponse = (family: EndpointFamily, error: BadRequest): Response =>
  familyError(family, error.status, error.message, "invalid_request_error", { param: error.param ?? null, code: null })

/**
 * Upstream failures: rate limits stay 429 (with Retry-After), the client's own mistakes the upstream caught stay
 * 4xx, a provider whose circuit breaker is open is 503 (with Retry-After), and everything else that is the gateway's
 * or the provider's fault is 502. A rejected provider key is 502, not 401: the caller's credentials were fine, the
 * gateway's were not.
 */
export const providerErrorResponse = (
  family: EndpointFamily,
  error: ProviderError,
  pipelineHeaders: Record<string, string>
): Response => {
  const status = error.reason === "RateLimited" || error.reason === "BudgetExceeded"
    ? 429
    : error.reason === "BadRequest" || error.reason === "NotFound"
    ? (error.upstreamStatus ?? 400)
    : error.reason === "CircuitOpen"
    ? 503
    : 502
  const headers: Record<string, string> = { ...pipelineHeaders, "x-isartor-provider": error.provider }
  if (error.retryAfterMs !== undefined) headers["retry-after"] = String(Math.ceil(error.retryAfterMs / 1000))
  // The OpenAI and Anthropic SDKs (so Claude Code) obey this over their own rules: a failure the gateway already
  // retried is final, so client retries do not multiply upstream calls; one it did not retry is worth another try.
  headers["x-should-retry"] = String(error.isRetryable && error.retried !== true)
  const type = status === 429 ? "rate_limit_error" : status < 500 ? "invalid_request_error" : "upstream_error"
  // A budget is the gateway's own refusal: its message names the budget, not a provider's failure.
  const message = error.reason === "BudgetExceeded" ? error.message : `provider ${error.provider}: ${error.message}`
  return familyError(family, status, message, type, {
    code: error.reason,
    provider: error.provider,
    ...(error.upstreamStatus !== undefined ? { upstream_status: error.upstreamStatus } : {})
  }, headers)
}
