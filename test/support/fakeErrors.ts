import type { IncomingMessage } from "node:http"

/**
 * What each provider's API refuses and how it says so: the key header it requires, checked as the API checks it,
 * and its own error body for each status — the `type`, `status` and `code` values the provider sends, which the
 * provider SDKs and the gateway's error mapping read.
 */
export type WireFormat = "openai" | "azure" | "anthropic" | "gemini" | "ollama"

export interface ProviderErrorResponse {
  readonly status: number
  readonly body: unknown
}

/** OpenAI's body; xAI and the OpenAI-compatible servers (vLLM, LiteLLM, Groq…) answer in the same shape. */
const openAIError = (message: string, type: string | null, code: string | null = null) => ({
  error: { message, type, param: null, code }
})

const openAIType = (status: number): { type: string; code: string | null } =>
  status === 401
    ? { type: "invalid_request_error", code: "invalid_api_key" }
    : status === 403
    ? { type: "request_forbidden", code: "unsupported_country_region_territory" }
    : status === 404
    ? { type: "invalid_request_error", code: "model_not_found" }
    : status === 429
    ? { type: "requests", code: "rate_limit_exceeded" }
    : status >= 500
    ? { type: "server_error", code: null }
    : { type: "invalid_request_error", code: null }

/** Azure's own gateway answers 401, 403, 404 and 429 as `{code, message}`; the model's errors come as OpenAI's. */
const azureCode: Record<number, string> = { 401: "401", 403: "403", 404: "DeploymentNotFound", 429: "429" }

const anthropicType = (status: number): string =>
  ({
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error"
  })[status] ?? (status >= 500 ? "api_error" : "invalid_request_error")

/** google.rpc.Code names, as Gemini puts them in `error.status`. */
const geminiStatus = (status: number): string =>
  ({
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED"
  })[status] ?? (status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION")

/** Ollama's OpenAI-compatible endpoint: only three types (ollama/openai/openai.go `NewError`). */
const ollamaType = (status: number): string =>
  status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : "api_error"

/** The error body `format`'s API sends with `status`. */
export const errorBody = (format: WireFormat, status: number, message: string): unknown => {
  switch (format) {
    case "openai": {
      const { code, type } = openAIType(status)
      return openAIError(message, type, code)
    }
    case "azure": {
      const code = azureCode[status]
      return code === undefined
        ? openAIError(message, openAIType(status).type, openAIType(status).code)
        : { error: { code, message } }
    }
    case "anthropic":
      return { type: "error", error: { type: anthropicType(status), message }, request_id: "req_fake0123456789" }
    case "gemini":
      return { error: { code: status, message, status: geminiStatus(status) } }
    case "ollama":
      return openAIError(message, ollamaType(status))
  }
}

/** How the API quotes a wrong key back: its first and last four characters. */
const masked = (key: string) => `${key.slice(0, 4)}${"*".repeat(Math.max(0, key.length - 8))}${key.slice(-4)}`

const bearer = (headers: IncomingMessage["headers"]) => /^Bearer (.*)$/.exec(headers.authorization ?? "")?.[1]

const OPENAI_NO_KEY = "You didn't provide an API key. You need to provide your API key in an Authorization header " +
  "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if " +
  "you're accessing the API from your browser and are prompted for a username and password. You can obtain an API " +
  "key from https://platform.openai.com/account/api-keys."

const AZURE_DENIED = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a " +
  "valid key for an active subscription and use a correct regional API endpoint for your resource."

const GEMINI_UNREGISTERED = "Method doesn't allow unregistered callers (callers without established identity). " +
  "Please use API Key or other form of API consumer identity to call this API."

/** API versions the real API accepts that clients here send: the gateway's own, and @anthropic-ai/sdk 1.14's. */
const ANTHROPIC_VERSIONS = ["2023-06-01", "2026-10-21"]

/**
 * The API's answer to a request whose key is missing or is not `key` (or, for Anthropic, without a known
 * `anthropic-version`); undefined when the request may pass. Ollama takes no key.
 */
export const refusal = (
  format: WireFormat,
  headers: IncomingMessage["headers"],
  query: URLSearchParams,
  key: string
): ProviderErrorResponse | undefined => {
  switch (format) {
    case "openai": {
      const sent = bearer(headers)
      if (sent === key) return undefined
      return sent === undefined || sent === ""
        ? { status: 401, body: openAIError(OPENAI_NO_KEY, "invalid_request_error") }
        : {
          status: 401,
          body: openAIError(
            `Incorrect API key provided: ${
              masked(sent)
            }. You can find your API key at https://platform.openai.com/account/api-keys.`,
            "invalid_request_error",
            "invalid_api_key"
          )
        }
    }
    case "azure":
      return headers["api-key"] === key
        ? undefined
        : { status: 401, body: { error: { code: "401", message: AZURE_DENIED } } }
    case "anthropic": {
      const sent = headers["x-api-key"]
      const refuse = (status: number, message: string) => ({ status, body: errorBody("anthropic", status, message) })
      if (sent === undefined || sent === "") return refuse(401, "x-api-key header is required")
      if (sent !== key) return refuse(401, "invalid x-api-key")
      const version = headers["anthropic-version"]
      if (version === undefined) return refuse(400, "anthropic-version: header is required")
      return ANTHROPIC_VERSIONS.includes(String(version))
        ? undefined
        : refuse(400, `anthropic-version: invalid version '${version}'`)
    }
    case "gemini": {
      const sent = headers["x-goog-api-key"] ?? query.get("key") ?? undefined
      if (sent === key) return undefined
      if (sent === undefined || sent === "") {
        return { status: 403, body: errorBody("gemini", 403, GEMINI_UNREGISTERED) }
      }
      return {
        status: 400,
        body: {
          error: {
            code: 400,
            message: "API key not valid. Please pass a valid API key.",
            status: "INVALID_ARGUMENT",
            details: [{
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "API_KEY_INVALID",
              domain: "googleapis.com",
              metadata: { service: "generativelanguage.googleapis.com" }
            }]
          }
        }
      }
    }
    case "ollama":
      return undefined
  }
}
