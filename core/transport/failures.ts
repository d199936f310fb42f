import { Redacted } from "effect"
import { maskCredentials } from "../domain/credentials.ts"
import type { ProviderError, ProviderErrorReason } from "../domain/errors.ts"

/** Gemini answers a wrong key with 400 INVALID_ARGUMENT, and says in its `google.rpc.ErrorInfo` that it was the key. */
const keyRefused = (text: string): boolean => {
  try {
    const details = (JSON.parse(text) as { error?: { details?: unknown } }).error?.details
    return Array.isArray(details) && details.some((detail) => detail?.reason === "API_KEY_INVALID")
  } catch {
    return false
  }
}

export const reasonFor = (status: number, text: string): ProviderErrorReason => {
  if (status === 429) return "RateLimited"
  if (status === 401 || status === 403 || (status === 400 && keyRefused(text))) return "Unauthorized"
  if (status === 404) return "NotFound"
  if (status >= 400 && status < 500) return "BadRequest"
  return "Upstream"
}

/** `Retry-After` in seconds or as an HTTP date, or OpenAI's `retry-after-ms`. */
export const retryAfterMs = (headers: Headers): number | undefined => {
  const ms = Number(headers.get("retry-after-ms"))
  if (headers.has("retry-after-ms") && Number.isFinite(ms) && ms >= 0) return ms
  const value = headers.get("retry-after")
  if (value === null) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/** The key, or each key of a client that sent several (`isartor proxy`'s): each is looked for on its own. */
export type ApiKeys = Redacted.Redacted<string> | ReadonlyArray<Redacted.Redacted<string>>

export const keysOf = (apiKeys: ApiKeys): ReadonlyArray<string> =>
  Redacted.isRedacted(apiKeys) ? [Redacted.value(apiKeys)] : apiKeys.map((key) => Redacted.value(key))

/** Removes the keys, and anything that looks like a credential, from text that came from upstream or the network. */
export const scrub = (text: string, apiKeys: ApiKeys): string => maskCredentials(text, keysOf(apiKeys)).slice(0, 500)

/** The message of an error body in any of the providers' shapes (OpenAI, Anthropic, Gemini, Ollama). */
export const upstreamMessage = (text: string, status: number, statusText: string): string => {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
    if (typeof parsed.error === "string") return parsed.error
    if (typeof parsed.error?.message === "string") return parsed.error.message
    if (typeof parsed.message === "string") return parsed.message
  } catch {
    // not JSON: the text itself is the message
  }
  return text.trim() || statusText || `HTTP ${status}`
}

/** A provider's failure, its message scrubbed of the call's keys. */
export type Fail = (
  reason: ProviderErrorReason,
  message: string,
  extra?: { upstreamStatus?: number; retryAfterMs?: number }
) => ProviderError
