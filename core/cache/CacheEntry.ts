/**
 * What the caches know about an entry besides its answer, so an operator (or the caller it belongs to) can find,
 * inspect and remove it, and a request can ask for a young enough one. Stored with the entry in both layers.
 */
export interface EntryMeta {
  /** The caller's scope: a hash of its credential, and its session; never the credential. */
  readonly tenant: string
  readonly model: string
  /** The last user message, its first `QUESTION_CHARS` characters: what the answer answers. */
  readonly question: string
  /** Milliseconds since the epoch. */
  readonly created: number
  readonly expires: number
}

export const QUESTION_CHARS = 200

/** The id a client sees for an entry: the layer, then the entry's key in it. Opaque to clients. */
export type EntryId = { readonly layer: "l1a"; readonly key: string } | { readonly layer: "l1b"; readonly key: string }

export const entryIdOf = (layer: "l1a" | "l1b", key: string) => `${layer}_${key}`

export const parseEntryId = (id: string): EntryId | undefined => {
  const match = /^(l1a|l1b)_([0-9a-z]{1,64})$/.exec(id)
  return match ? { layer: match[1] as "l1a" | "l1b", key: match[2]! } : undefined
}

/** An entry as the admin API shows it. */
export interface EntryView {
  readonly id: string
  readonly layer: "l1a" | "l1b"
  readonly tenant: string
  readonly model: string
  readonly question: string
  readonly created: string
  readonly expires: string
  /** Times it answered on this replica since it started (entries are shared across replicas, counters are not). */
  readonly hits: number
  /** The same answer's entry in the other layer, when it was stored in both. */
  readonly linked?: string
}

/** Criteria for finding entries; every criterion given must hold. */
export interface EntryFilter {
  readonly tenant?: string | undefined
  readonly model?: string | undefined
  /** Created more than this many seconds ago. */
  readonly olderThanSecs?: number | undefined
  /** Case-insensitive substring of the question. */
  readonly questionContains?: string | undefined
}

export const matches = (meta: EntryMeta | undefined, filter: EntryFilter, now: number): boolean => {
  if (meta === undefined) return Object.values(filter).every((value) => value === undefined)
  if (filter.tenant !== undefined && meta.tenant !== filter.tenant && !meta.tenant.startsWith(`${filter.tenant}|`)) {
    return false
  }
  if (filter.model !== undefined && meta.model !== filter.model) return false
  if (filter.olderThanSecs !== undefined && now - meta.created < filter.olderThanSecs * 1000) return false
  if (
    filter.questionContains !== undefined &&
    !meta.question.toLowerCase().includes(filter.questionContains.toLowerCase())
  ) return false
  return true
}
