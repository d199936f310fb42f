/**
 * One mask for credentials in text that leaves the gateway: upstream error messages (core/transport/http.ts), and the
 * questions and answers `request_log_bodies` keeps (the usage ledger, the admin API).
 */

export const REDACTED = "[redacted]"

/** Key shapes (`sk-…`, `sk-ant-…`, `xai-…`, `gsk_…`, `AIza…`), not words that merely start alike ("skipping"). */
const KEY_SHAPE = /\b(?:(?:sk|xai|gsk|key)[-_][A-Za-z0-9_*-]{6,}|AIza[A-Za-z0-9_-]{20,})/g
/** A credential after its name (`Bearer …`, `api_key=…`): the name is kept, the value masked. */
const NAMED_CREDENTIALS = [
  /\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  /\b((?:api[_-]?key|token|secret|password)["']?\s*[:=]\s*["']?)[^\s"',;]{6,}/gi
]

/**
 * `text` with each of `secrets` (the known keys; shorter than 4 characters they are not looked for) and anything
 * shaped like a key or named as a credential replaced by `[redacted]`.
 */
export const maskCredentials = (text: string, secrets: ReadonlyArray<string> = []): string => {
  let masked = text
  for (const secret of secrets) if (secret.length >= 4) masked = masked.split(secret).join(REDACTED)
  for (const named of NAMED_CREDENTIALS) masked = masked.replace(named, `$1${REDACTED}`)
  return masked.replace(KEY_SHAPE, REDACTED)
}
