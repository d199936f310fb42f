/**
 * The exact-hit lane: the one fast path, entered once, in front of the Hono app. A chat POST to its route's very path,
 * with a declared length within `max_body_bytes`, the gateway key, caching headers the app would honour, and a body
 * seen before byte for byte under the same scope (its first-level key, learned from the app) whose entry L1a holds in
 * this process is answered here: no Hono dispatch, no parse, no Effect run. Everything else — a refusal, a miss, a
 * body never seen, a chunked upload, another path or method — goes to the app as it came (the body, once read, goes
 * with it, read once: see `withReceived`), and the app's answer is the one sent. `test/http/exactHitLane.test.ts`
 * proves that an answer from here is byte for byte the app's.
 */
import type { Context } from "effect"
import { entryIdOf } from "../cache/CacheEntry.ts"
import type { ExactCache } from "../cache/exact/ExactCache.ts"
import { type KnownRequest, makeFirstLevelKeys, type SeenBody } from "../cache/exact/FirstLevelKeys.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { Answer } from "../domain/Answer.ts"
import { answerHeaderScope, type EndpointFamily } from "../domain/ChatRequest.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { countTokens, recordLayerDuration } from "../observability/Metrics.ts"
import { pricesOf } from "../usage/prices.ts"
import { type gatewayKeyCheck, readReceived, withReceived } from "./middleware.ts"
import type { Answered, EdgeFetch, Exchange } from "./observability.ts"
import { ageOf, answerHeaders, renderAnswer, type RenderedRequest } from "./render.ts"

/** Bodies whose exact key is remembered (see FirstLevelKeys): ≈ 2 bytes a character at most. */
const FIRST_LEVEL_KEYS = { maxEntries: 20_000, maxChars: 16 * 1024 * 1024 }

/** What the lane needs to know of a request's headers, as the app reads them; `undefined`: the app would refuse. */
export interface LaneContext {
  readonly tenant: string
  readonly cacheRead: boolean
  readonly maxAgeMs?: number | undefined
}

export interface ExactHitLaneDependencies {
  readonly config: AppConfigShape
  readonly exactCache: ExactCache["Service"]
  /** The gateway's runtime, whose metric registry a hit is counted in (L1a duration, tokens saved). */
  readonly metrics: Context.Context<never>
  /** The chat routes and the format each answers in. */
  readonly routes: ReadonlyMap<string, EndpointFamily>
  /** The app's reading of a request's headers; `undefined` when the app would answer them with an error. */
  readonly contextOf: (request: Request) => LaneContext | undefined
  readonly checkKey: ReturnType<typeof gatewayKeyCheck> | undefined
  /** A defect (a body that could not be read): the app's 500. */
  readonly failed: (error: unknown, path: string) => Response
  /** See `GatewayOptions.shareResponseHeaders`. */
  readonly shareResponseHeaders: boolean
  /** The gateway's clock: a hit's `Age`. */
  readonly now: () => number
}

export interface ExactHitLane {
  /** The app's fetch with the lane in front of it. */
  readonly fetch: EdgeFetch
  /** The app tells the lane a chat body's exact key once it has decoded it: the next time, it is a first-level key. */
  readonly learn: (
    family: EndpointFamily,
    request: Request,
    tenant: string,
    body: SeenBody,
    known: KnownRequest
  ) => void
}

/** The lane turned off: every request is the app's, and nothing is learned. */
export const withoutExactHitLane = (app: EdgeFetch): ExactHitLane => ({ fetch: app, learn: () => undefined })

const L1A: Answered = { layer: "l1a", provider: undefined }

/** A body's scope among the first-level keys: its route's format, the caller, and the headers that shape the answer. */
const scopeOf = (family: EndpointFamily, request: Request, tenant: string) =>
  `${family}\u0000${tenant}\u0000${answerHeaderScope(family, request.headers)}`

type FirstLevelKeys = ReturnType<typeof makeFirstLevelKeys>

/**
 * The hit of a body seen before, rendered and counted as the pipeline's L1a would; else `undefined`. What does not
 * change per request (renderer, prices, whether L1a is timed) is settled here, once.
 */
const makeHitOf = (deps: ExactHitLaneDependencies, keys: FirstLevelKeys) => {
  const render = deps.shareResponseHeaders ? sharedHeadersRenderer() : renderAnswer
  const prices = pricesOf(deps.config)
  const price = (model: string) => prices("", model)
  // A layer turned off at wiring time is not timed (as in the pipeline).
  const exactTimed = deps.config.cache_mode !== "semantic"
  const { exactCache, metrics } = deps
  return (family: EndpointFamily, request: Request, context: LaneContext, body: SeenBody, exchange: Exchange) => {
    const known = keys.get(scopeOf(family, request, context.tenant), body)
    if (known === undefined) return undefined
    const start = performance.now()
    const hit = exactCache.lookupNow(known.key, context.maxAgeMs)
    if (hit === undefined) return undefined
    if (exactTimed) recordLayerDuration("l1a", (performance.now() - start) / 1000, metrics)
    countTokens(hit.completion, "saved", price, metrics)
    exchange.answered = L1A
    exchange.usage = {
      tenant: context.tenant,
      modelAsked: known.model,
      stream: known.stream,
      completion: hit.completion
    }
    return render({ family, model: known.model, stream: known.stream, includeUsage: known.includeUsage === true }, {
      _tag: "Complete",
      layer: "l1a",
      completion: hit.completion,
      cacheKey: entryIdOf("l1a", known.key.key),
      created: hit.created
    }, deps.now())
  }
}

export const makeExactHitLane = (app: EdgeFetch, deps: ExactHitLaneDependencies): ExactHitLane => {
  const keys = makeFirstLevelKeys(FIRST_LEVEL_KEYS)
  const hitOf = makeHitOf(deps, keys)
  const maxBytes = deps.config.max_body_bytes
  const { checkKey, contextOf, routes } = deps

  const fetch = (request: Request, path: string, exchange: Exchange): Response | Promise<Response> => {
    const family = request.method === "POST" ? routes.get(path) : undefined
    const declared = family === undefined ? null : request.headers.get("content-length")
    if (declared === null || request.headers.get("transfer-encoding") !== null || Number(declared) > maxBytes) {
      return app(request, path, exchange)
    }
    const context = contextOf(request)
    if (context === undefined || !context.cacheRead) return app(request, path, exchange)
    const failed = (error: unknown) => deps.failed(error, path)
    // One promise on an exact hit (the body's) when no key is set.
    const read = () =>
      readReceived(request).then((received) => {
        try {
          return hitOf(family!, request, context, received.bytes ?? received.text, exchange) ??
            app(withReceived(request, received), path, exchange)
        } catch (error) {
          return failed(error)
        }
      }, failed)
    if (checkKey === undefined) return read()
    return checkKey(request.headers, family!, exchange)
      .then((refused) => refused === undefined ? read() : app(request, path, exchange))
      .catch(failed)
  }

  return {
    fetch,
    learn: (family, request, tenant, body, known) => keys.set(scopeOf(family, request, tenant), body, known)
  }
}

/**
 * Answers whose shared headers are kept (see `sharedHeadersRenderer`), found by their text, forgotten wholesale when
 * full: at most this many, and this many characters of answer text (an answer read from Redis is a copy of its own).
 */
const SHARED_HEADERS = { entries: 4096, chars: 8 * 1024 * 1024 }

/** Whether this runtime's `Response` copies the `Headers` it is given (the Fetch standard), rather than keeping it. */
const responsesCopyHeaders = (): boolean => {
  const given = new Headers({ "x-isartor-probe": "given" })
  const response = new Response(null, { headers: given })
  given.set("x-isartor-probe", "changed")
  return response.headers.get("x-isartor-probe") === "given"
}

/** An answer's headers as last built, and what they were built from. */
interface SharedHeaders {
  readonly headers: Headers
  readonly of: Answer
  readonly age: string | undefined
}

const lengthOf = (text: string) => text.length

type Render = (request: RenderedRequest, answer: Answer, now: number) => Response

/**
 * `renderAnswer`, with an exact hit's headers built once per answer and age (they change once a second, with
 * `age`) as one `Headers` that every response sending it copies: on Bun a `Response` copies a `Headers` several
 * times faster than it reads the same fields from a plain object. Only where a `Response` copies what it is given —
 * a shared `Headers` must never become one response's own — else `renderAnswer`. The bytes sent are the same.
 */
export const sharedHeadersRenderer = (): Render => {
  if (!responsesCopyHeaders()) return renderAnswer
  const shared = new BoundedMemo<string, SharedHeaders>(SHARED_HEADERS.entries, SHARED_HEADERS.chars, lengthOf)
  return (request, answer, now) => {
    if (answer._tag !== "Complete" || answer.layer !== "l1a" || request.family !== "openai" || request.stream) {
      return renderAnswer(request, answer, now)
    }
    const age = answer.created === undefined ? undefined : ageOf(answer.created, now)
    const known = shared.get(answer.completion)
    let headers: Headers
    if (
      known !== undefined && known.age === age && known.of.cacheKey === answer.cacheKey &&
      known.of.provider === answer.provider && known.of.routing === answer.routing
    ) {
      headers = known.headers
    } else {
      const fields = answerHeaders(answer, now)
      if (age !== undefined) fields.age = age
      fields["content-type"] = "application/json"
      headers = new Headers(fields)
      shared.set(answer.completion, { headers, of: answer, age })
    }
    return new Response(answer.completion, { headers })
  }
}
