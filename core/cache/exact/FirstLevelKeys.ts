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
  /** Most body characters kept, all entries together. */
  readonly maxChars: number
}

/**
 * The first level of the exact key: a request body seen before, byte for byte under the same scope (endpoint family,
 * tenant, and the headers that enter the key), is the same request — its canonical key (the second level: the one
 * entries are stored and verified under) needs no parse, no validation, no canonical JSON and no digest again. The
 * body text itself is the lookup key, compared whole, so two bodies never share a first-level entry. Bounded, and
 * forgotten wholesale when full: a forgotten body only takes the longer way once more.
 */
export const makeFirstLevelKeys = (options: FirstLevelKeyOptions) => {
  const scopes = new Map<string, Map<string, KnownRequest>>()
  let entries = 0
  let chars = 0
  return {
    get: (scope: string, body: string): KnownRequest | undefined => scopes.get(scope)?.get(body),
    set: (scope: string, body: string, known: KnownRequest): void => {
      if (body.length > options.maxChars) return
      if (entries >= options.maxEntries || chars + body.length > options.maxChars) {
        scopes.clear()
        entries = 0
        chars = 0
      }
      let bodies = scopes.get(scope)
      if (bodies === undefined) scopes.set(scope, bodies = new Map())
      if (!bodies.has(body)) {
        entries++
        chars += body.length
      }
      bodies.set(body, known)
    }
  }
}
