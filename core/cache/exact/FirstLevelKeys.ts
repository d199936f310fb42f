import type { ExactKey } from "../CacheKey.ts"

/** What a body already decoded once is known to be: its exact key, and what rendering an answer to it needs. */
export interface KnownRequest {
  readonly key: ExactKey
  readonly model: string
  readonly stream: boolean
  /** Whether the stream asks for its usage chunk (`stream_options.include_usage`). */
  readonly includeUsage?: boolean
}

export interface FirstLevelKeyOptions {
  readonly maxEntries: number
  /** Most body characters (or bytes, of a body kept as bytes) kept, all entries together. */
  readonly maxChars: number
}

/**
 * V8 hashes a string of more than this many characters by its length alone: in a map keyed by whole bodies, large
 * bodies of about one length would all land in one bucket and each lookup compare them in turn, character by
 * character (coding agents' bodies differ only in their last turn).
 */
const HASHED_WHOLE = 16_383
const ENDS = (HASHED_WHOLE - 20) >> 1

/**
 * A body as the edge read it: its text, or a large one's bytes (never decoded whole: see `receivedAsBytes`). The same
 * route reads the same body the same way every time, so a body is always found as what it was learnt as.
 */
export type SeenBody = string | Uint8Array

const utf8 = new TextDecoder()
/**
 * How much of each end of a body kept as bytes its map key holds: decoding is what a key of bytes costs, and two
 * agent turns of one length already differ in their last kilobyte (a tie is only compared whole, then replaced).
 */
const BYTE_ENDS = 1024

/**
 * A large body's map key: its length, beginning and end — a body differs from its predecessor at its end. Bytes are
 * keyed by their ends decoded (a character cut at an end decodes the same way every time), after a mark no text key
 * starts with.
 */
const mapKeyOf = (body: SeenBody) => {
  if (typeof body !== "string") {
    return `b${body.length}\u0000${utf8.decode(body.subarray(0, BYTE_ENDS))}${utf8.decode(body.subarray(-BYTE_ENDS))}`
  }
  return body.length <= HASHED_WHOLE ? body : `${body.length}\u0000${body.slice(0, ENDS)}${body.slice(-ENDS)}`
}

/** Whether two bodies are the same, compared from the end, where an agent's next request differs from its last. */
const sameBody = (a: SeenBody, b: SeenBody): boolean => {
  if (typeof a === "string" || typeof b === "string") return a === b
  if (a.length !== b.length) return false
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

interface Entry {
  readonly body: SeenBody
  readonly known: KnownRequest
}

/**
 * The first level of the exact key: a request body seen before, byte for byte under the same scope (endpoint family,
 * tenant, and the headers that enter the key), is the same request — its canonical key (the second level: the one
 * entries are stored and verified under) needs no parse, no validation, no canonical JSON and no digest again. Found
 * by its text (a large body's ends: see `mapKeyOf`) and compared whole, so two bodies never share a first-level
 * entry. Bounded, and forgotten wholesale when full: a forgotten body only takes the longer way once more.
 */
export const makeFirstLevelKeys = (options: FirstLevelKeyOptions) => {
  const scopes = new Map<string, Map<string, Entry>>()
  let entries = 0
  let chars = 0
  return {
    get: (scope: string, body: SeenBody): KnownRequest | undefined => {
      const entry = scopes.get(scope)?.get(mapKeyOf(body))
      return entry !== undefined && sameBody(entry.body, body) ? entry.known : undefined
    },
    set: (scope: string, body: SeenBody, known: KnownRequest): void => {
      if (body.length > options.maxChars) return
      if (entries >= options.maxEntries || chars + body.length > options.maxChars) {
        scopes.clear()
        entries = 0
        chars = 0
      }
      let bodies = scopes.get(scope)
      if (bodies === undefined) scopes.set(scope, bodies = new Map())
      const mapKey = mapKeyOf(body)
      const before = bodies.get(mapKey)
      // Another body with the same ends takes the place: the one before takes the longer way next time.
      if (before === undefined) entries++
      chars += body.length - (before?.body.length ?? 0)
      bodies.set(mapKey, { body, known })
    }
  }
}
