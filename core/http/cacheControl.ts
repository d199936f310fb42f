/**
 * A request's caching directives, as clients and CDNs speak them: `Cache-Control: no-cache` (do not read the
 * caches), `no-store` (do not write them), `max-age=N` (only an answer at most N s old), `s-maxage=N` or
 * `X-Isartor-Cache-TTL: N` (keep this answer N s, capped by `cache_ttl_secs`), `only-if-cached` (never ask the
 * provider). Any directive not in `cache_controls_allowed` is refused (403), as docs/endpoints.md promises: a client that
 * asks for `immutable` or `no-transform` learns the gateway will not honour it rather than being served as if it had.
 */
export interface CacheDirectives {
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  readonly maxAgeMs?: number | undefined
  readonly storeTtlMs?: number | undefined
  readonly onlyIfCached?: boolean | undefined
  /** Why the request cannot be served: a directive the gateway forbids (403) or a malformed one (400). */
  readonly refused?: { readonly status: 400 | 403; readonly message: string } | undefined
}

/** A refusal names the directive; a client's very long one is cut, not echoed whole. */
const MAX_NAME_SHOWN = 64

const NONE: CacheDirectives = { cacheRead: true, cacheWrite: true }

const seconds = (value: string | undefined): number | undefined => {
  if (value === undefined || !/^\d{1,10}$/.test(value.trim())) return undefined
  return Number(value.trim())
}

/** Reads the directives; `allowed` lists those callers may use (`cache_controls_allowed`). */
export const readCacheDirectives = (
  cacheControl: string | undefined,
  ttlHeader: string | undefined,
  allowed: ReadonlySet<string>
): CacheDirectives => {
  // Nearly every request has neither header: nothing to parse.
  if (cacheControl === undefined && ttlHeader === undefined) return NONE
  let cacheRead = true
  let cacheWrite = true
  let maxAgeMs: number | undefined
  let storeTtlMs: number | undefined
  let onlyIfCached = false
  const used: Array<string> = []
  const malformed = (message: string): CacheDirectives => ({ ...NONE, refused: { status: 400, message } })
  for (const part of (cacheControl ?? "").split(",")) {
    const [rawName = "", value] = part.split("=", 2)
    const name = rawName.trim().toLowerCase()
    // An empty member (`no-cache,,no-store`, a trailing comma) asks for nothing.
    if (name === "") continue
    if (name === "no-cache") cacheRead = false
    else if (name === "no-store") cacheWrite = false
    else if (name === "only-if-cached") onlyIfCached = true
    else if (name === "max-age" || name === "s-maxage") {
      const secs = seconds(value)
      if (secs === undefined) return malformed(`Cache-Control: ${name} needs a whole number of seconds, as ${name}=60`)
      if (name === "max-age") maxAgeMs = secs * 1000
      else storeTtlMs = secs * 1000
    }
    // Any other directive is only checked against the allowed list: one an operator allows is accepted and ignored.
    used.push(name)
  }
  if (ttlHeader !== undefined) {
    const secs = seconds(ttlHeader)
    if (secs === undefined) return malformed("X-Isartor-Cache-TTL: expected a whole number of seconds")
    storeTtlMs = secs * 1000
    used.push("s-maxage")
  }
  const forbidden = used.find((directive) => !allowed.has(directive))
  if (forbidden !== undefined) {
    return {
      ...NONE,
      refused: {
        status: 403,
        message: `Cache-Control: ${
          forbidden.slice(0, MAX_NAME_SHOWN)
        } is not allowed by this gateway (cache_controls_allowed: ${[...allowed].join(", ") || "none"})`
      }
    }
  }
  return { cacheRead, cacheWrite, maxAgeMs, storeTtlMs, onlyIfCached }
}
