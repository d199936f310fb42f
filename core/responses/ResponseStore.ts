import { Context, Effect, Layer } from "effect"
import { LRUCache } from "lru-cache"
import { AppConfig } from "../config/Config.ts"

/** A response the gateway answered with `store` on: what `GET /v1/responses/{id}` and `previous_response_id` read. */
export interface StoredResponse {
  /** The caller it belongs to (a hash of its credential and session): no other caller can read or delete it. */
  readonly tenant: string
  /** The `response` object as the client got it. */
  readonly response: Record<string, unknown>
  /** The conversation up to and including this answer, in Chat Completions form, instructions left out. */
  readonly conversation: ReadonlyArray<Record<string, unknown>>
}

/**
 * Where stored responses live. Every call may fail (a Redis that is down): the route says so with a 503 rather than
 * pretending a conversation it cannot read does not exist.
 */
export interface ResponseStoreShape {
  readonly backend: "memory" | "redis"
  /** Resolves once a replica reading it next would find it (or once it was dropped for being over the bound). */
  readonly save: (id: string, entry: StoredResponse) => Promise<void>
  /** `undefined` when unknown, expired, evicted, or another caller's. */
  readonly get: (id: string, tenant: string) => Promise<StoredResponse | undefined>
  /** Whether it was there (and the caller's) to delete. */
  readonly remove: (id: string, tenant: string) => Promise<boolean>
}

/** The JSON size an entry is bounded by: what it takes in memory and in Redis alike. */
export const entryBytes = (entry: Pick<StoredResponse, "response" | "conversation">) =>
  Math.max(1, JSON.stringify(entry.response).length + JSON.stringify(entry.conversation).length)

/**
 * Stored responses in this process, least recently used evicted first once `maxBytes` of JSON is held (all callers
 * together), each for `ttlMs`. Replicas do not share it: behind a load balancer, use `cache_backend = redis`.
 */
export const makeMemoryResponseStore = (maxBytes: number, ttlMs: number): ResponseStoreShape => {
  const entries = new LRUCache<string, StoredResponse>({ maxSize: maxBytes, ttl: ttlMs, sizeCalculation: entryBytes })
  const owned = (id: string, tenant: string) => {
    const entry = entries.get(id)
    return entry?.tenant === tenant ? entry : undefined
  }
  return {
    backend: "memory",
    save: async (id, entry) => void entries.set(id, entry),
    get: async (id, tenant) => owned(id, tenant),
    remove: async (id, tenant) => owned(id, tenant) !== undefined && entries.delete(id)
  }
}

/** The `/v1/responses` store: in memory, or in Redis with the caches (chosen at wiring, core/Gateway.ts). */
export class ResponseStore extends Context.Service<ResponseStore, ResponseStoreShape>()("isartor/ResponseStore") {
  static readonly layerMemory = Layer.effect(
    ResponseStore,
    Effect.gen(function*() {
      const config = yield* AppConfig
      return makeMemoryResponseStore(config.response_store_max_bytes, config.response_store_ttl_secs * 1000)
    })
  )

  static readonly layerStore = (store: ResponseStoreShape) => Layer.succeed(ResponseStore, store)
}
