import { Context, Effect, Layer } from "effect"
import { stringify } from "safe-stable-stringify"
import xxhash from "xxhash-wasm"
import { answerHeadersOfRequest, type ChatRequest } from "../domain/ChatRequest.ts"
import { unchangedBytes } from "../domain/SourceRequest.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { type CutRule, keptSpans } from "./keyedBytes.ts"

/** Bump when the key material changes shape, so old entries (in Redis, say) are never misread. */
export const KEY_VERSION = 1

const KEY_SEED = 0n
/** An independent second digest, kept in the entry and compared on a hit: a wrong answer needs both to collide. */
const CHECK_SEED = 0x9e3779b97f4a7c15n

const encoder = new TextEncoder()
const hex = (digest: bigint) => digest.toString(16).padStart(16, "0")

/**
 * Where a key's material is put before it is hashed: reused, so a large body's key allocates no copy of it.
 * Material that does not fit gets a buffer of its own.
 */
const SCRATCH_BYTES = 1024 * 1024
let scratch: Uint8Array | undefined
const scratchOf = (bytes: number) =>
  bytes > SCRATCH_BYTES ? new Uint8Array(bytes) : (scratch ??= new Uint8Array(SCRATCH_BYTES))
const utf8Of = (material: string): Uint8Array => {
  if (material.length > SCRATCH_BYTES) return encoder.encode(material)
  const into = scratchOf(0)
  const { read, written } = encoder.encodeInto(material, into)
  return read === material.length ? into.subarray(0, written) : encoder.encode(material)
}

/** `head` encoded, then the spans of `bytes` (pairs of start and end), one after the other. */
const joined = (head: string, bytes: Uint8Array, spans: ReadonlyArray<number>): Uint8Array => {
  let length = 0
  for (let at = 0; at < spans.length; at += 2) length += spans[at + 1]! - spans[at]!
  // UTF-8 takes at most three bytes per UTF-16 unit.
  const into = scratchOf(head.length * 3 + length)
  let written = encoder.encodeInto(head, into).written
  for (let at = 0; at < spans.length; at += 2) {
    into.set(bytes.subarray(spans[at]!, spans[at + 1]!), written)
    written += spans[at + 1]! - spans[at]!
  }
  return into.subarray(0, written)
}

export interface ExactKey {
  /** xxh64 of the canonical request, hex: the cache key. */
  readonly key: string
  /** A second xxh64 with another seed, hex: stored in the entry and compared on every hit. */
  readonly check: string
}

/** What an exact key is made of: a chat request, or any other request the gateway caches (embeddings). */
export type KeyedRequest = Pick<ChatRequest, "tenant" | "body"> & {
  readonly family: string
  readonly source?: ChatRequest["source"]
  /** The bytes `body` goes upstream as, and what of them does not change the answer: the key is made of the rest. */
  readonly sent?: SentBody | undefined
}

/** A body's bytes as sent, and what to cut from them for its key (what `body` leaves out). */
export interface SentBody {
  readonly bytes: Uint8Array
  readonly cut: CutRule
}

/**
 * The body fields that can change an answer. An Anthropic or Gemini request goes upstream as the client sent it, so
 * its own body is what counts (thinking, tools, `cache_control`, safety settings), with the model (Gemini names it
 * in the path); never how the answer is delivered (`stream`, `stream_options`) nor who asked for the provider's
 * records (`metadata`: Claude Code's holds a session id).
 */
const keyFields = (request: KeyedRequest): Record<string, unknown> =>
  withoutDelivery(
    request.source?.format === "anthropic"
      ? request.source.body
      : request.source?.format === "gemini"
      ? { ...request.source.body, model: request.body.model }
      : request.body
  )

/**
 * A body without the fields that say how to deliver or file an answer, never what it says: streaming, and the
 * bookkeeping clients vary per run or session (`metadata`, `prompt_cache_key`, Codex's `client_metadata`). With them
 * in the key, a coding agent's identical request of another session would never hit.
 */
export const withoutDelivery = (body: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const {
    stream: _stream,
    stream_options: _streamOptions,
    metadata: _metadata,
    prompt_cache_key: _promptCacheKey,
    client_metadata: _clientMetadata,
    ...fields
  } = body
  return fields
}

/** The fields `withoutDelivery` leaves out, cut from a body's bytes by name. */
export const DELIVERY_FIELDS: ReadonlySet<string> = new Set([
  "stream",
  "stream_options",
  "metadata",
  "prompt_cache_key",
  "client_metadata"
])

const DELIVERY_CUT: CutRule = { names: DELIVERY_FIELDS }
/** An Anthropic body's model is named in the key's head instead: one routed to another model keeps its bytes. */
const ANTHROPIC_CUT: CutRule = { names: new Set([...DELIVERY_FIELDS, "model"]) }

/**
 * The bytes a request's body goes upstream as, when its key is made of them, and what of them is left out: those
 * its caller names (`sent`), else an Anthropic or Gemini body read as bytes (a large one) and not rewritten since.
 * Their order and spelling are the client's, so a body sent again byte for byte hits, and one reordered does not:
 * coding agents send a turn the same way every time, and this spares them serialising and encoding the whole body
 * again for its key.
 */
const sentBytes = (request: KeyedRequest): SentBody | undefined => {
  if (request.sent !== undefined) return request.sent
  const source = request.source
  if (source === undefined || source.format === "openai") return undefined
  const bytes = unchangedBytes(source)
  return bytes === undefined
    ? undefined
    : { bytes, cut: source.format === "anthropic" ? ANTHROPIC_CUT : DELIVERY_CUT }
}

/**
 * The bytes to key a request by once only its model is changed (routed to a tier's model): the client's, when its
 * own key is made of them and leaves the model to the key's head (Anthropic; Gemini names it in the path and keeps
 * its source). Its key is then the key of the same body sent for that model directly.
 */
export const sentBeforeNewModel = (request: KeyedRequest): SentBody | undefined =>
  request.source?.format === "anthropic" ? sentBytes(request) : undefined

/** The model a key made of bytes names in its head: the one its bytes were cut of, or the one its path names. */
const headModel = (request: KeyedRequest) =>
  request.source?.format === "anthropic"
    ? { model: request.source.body.model }
    : request.source?.format === "gemini"
    ? { model: request.body.model }
    : {}

/**
 * What a request's key hashes. `stream` and `stream_options` change how an answer is delivered, never what it says:
 * a streamed and a plain request share an entry. `stringify` recurses: a body's nesting is bounded at decode
 * (MAX_BODY_DEPTH). A body keyed by its bytes starts its material otherwise than any canonical one (`{"body":`).
 */
const materialOf = (request: KeyedRequest, headers: Readonly<Record<string, string>> | undefined): Uint8Array => {
  const sent = sentBytes(request)
  const spans = sent === undefined ? undefined : keptSpans(sent.bytes, sent.cut)
  if (sent === undefined || spans === undefined) {
    return utf8Of(
      stringify({
        v: KEY_VERSION,
        family: request.family,
        tenant: request.tenant,
        body: keyFields(request),
        ...(headers === undefined ? {} : { headers })
      })!
    )
  }
  const head = stringify({
    v: KEY_VERSION,
    family: request.family,
    tenant: request.tenant,
    sent: request.source?.format ?? "bytes",
    ...headModel(request),
    ...(headers === undefined ? {} : { headers })
  })!
  return joined(`${head}\n`, sent.bytes, spans)
}

/** Callers whose credential's hash is remembered (see `hashSecret`). */
const SCOPES_REMEMBERED = 256

export class CacheKey extends Context.Service<CacheKey, {
  /** The exact-cache key of a request: endpoint family, tenant, and every body field that changes the answer. */
  readonly exactKey: (request: KeyedRequest) => ExactKey
  /** A short, irreversible tag for a secret (a caller's key), safe to put in a cache scope. */
  readonly hashSecret: (secret: string) => string
  /** A digest of any JSON value, key order ignored: for cache scopes. */
  readonly digest: (value: unknown) => string
}>()("isartor/CacheKey") {
  static readonly layer = Layer.effect(
    CacheKey,
    Effect.gen(function*() {
      const hasher = yield* Effect.promise(() => xxhash())
      const scopes = new BoundedMemo<string, string>(SCOPES_REMEMBERED)
      return CacheKey.of({
        exactKey: (request) => {
          // The headers that change an answer (ANSWER_HEADERS) beside the body, never in it: a body field of the same
          // name is not the header. Absent, the material is what it always was, and so are the keys.
          const headers = answerHeadersOfRequest(request)
          const bytes = materialOf(request, headers)
          return { key: hex(hasher.h64Raw(bytes, KEY_SEED)), check: hex(hasher.h64Raw(bytes, CHECK_SEED)) }
        },
        hashSecret: (secret) => {
          if (secret === "") return "anonymous"
          // Every request of a caller hashes the same credential: its scope is remembered (in memory only, a few
          // hundred callers, forgotten wholesale when full).
          return scopes.get(secret) ?? scopes.set(secret, hasher.h64ToString(`isartor-tenant:${secret}`, CHECK_SEED))
        },
        digest: (value) => hasher.h64ToString(stringify(value) ?? "", KEY_SEED)
      })
    })
  )
}
