import { LRUCache } from "lru-cache"

/** A response the gateway answered with `store` on: what `GET /v1/responses/{id}` and `previous_response_id` read. */
export interface StoredResponse {
  /** The caller it belongs to (a hash of its credential and session): no other caller can read or delete it. */
  readonly tenant: string
  /** The `response` object as the client got it. */
  readonly response: Record<string, unknown>
  /** The conversation up to and including this answer, in Chat Completions form, instructions left out. */
  readonly conversation: ReadonlyArray<Record<string, unknown>>
}

export interface ResponseStore {
  readonly save: (id: string, entry: StoredResponse) => void
  /** `undefined` when unknown, evicted, or another tenant's. */
  readonly get: (id: string, tenant: string) => StoredResponse | undefined
  /** Whether it was there (and the caller's) to delete. */
  readonly remove: (id: string, tenant: string) => boolean
}

/**
 * Stored responses, in memory, least recently used evicted first once `maxBytes` of JSON is held. Synchronous: a
 * streamed answer is saved from inside its stream. Replicas do not share it, so a conversation continued with
 * `previous_response_id` must reach the same replica (sticky sessions), as with any in-memory store.
 */
export const makeResponseStore = (maxBytes: number): ResponseStore => {
  const entries = new LRUCache<string, StoredResponse>({
    maxSize: maxBytes,
    sizeCalculation: (entry) =>
      Math.max(1, JSON.stringify(entry.response).length + JSON.stringify(entry.conversation).length)
  })
  const owned = (id: string, tenant: string) => {
    const entry = entries.get(id)
    return entry?.tenant === tenant ? entry : undefined
  }
  return {
    save: (id, entry) => void entries.set(id, entry),
    get: owned,
    remove: (id, tenant) => owned(id, tenant) !== undefined && entries.delete(id)
  }
}
