import { Context, Effect, Redacted } from "effect"
import type { SourceRequest } from "../domain/ChatRequest.ts"
import { maskCredentials } from "../domain/credentials.ts"
import { ProviderError, type ProviderErrorReason } from "../domain/errors.ts"
import { type Redactor, relayStream, type StreamTranslation, translateStream } from "./relay.ts"

/** Gemini answers a wrong key with 400 INVALID_ARGUMENT, and says in its `google.rpc.ErrorInfo` that it was the key. */
const keyRefused = (text: string): boolean => {
  try {
    const details = (JSON.parse(text) as { error?: { details?: unknown } }).error?.details
    return Array.isArray(details) && details.some((detail) => detail?.reason === "API_KEY_INVALID")
  } catch {
    return false
  }
}

const reasonFor = (status: number, text: string): ProviderErrorReason => {
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

const keysOf = (apiKeys: ApiKeys): ReadonlyArray<string> =>
  Redacted.isRedacted(apiKeys) ? [Redacted.value(apiKeys)] : apiKeys.map((key) => Redacted.value(key))

/** Removes the keys, and anything that looks like a credential, from text that came from upstream or the network. */
export const scrub = (text: string, apiKeys: ApiKeys): string => maskCredentials(text, keysOf(apiKeys)).slice(0, 500)

/** The message of an error body in any of the providers' shapes (OpenAI, Anthropic, Gemini, Ollama). */
const upstreamMessage = (text: string, status: number, statusText: string): string => {
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

/** What the providers call upstream with: `fetch`'s shape, for the kinds of call they make (a POST; a GET to check). */
export type UpstreamFetchFunction = (
  url: string,
  init: {
    method: string
    headers: Record<string, string>
    /** Absent for a GET; bytes when the client's own are passed through. */
    body: string | Uint8Array<ArrayBuffer> | undefined
    signal: AbortSignal
    /** Never followed: a redirect is the upstream's answer, and the prompt goes nowhere else. */
    redirect: "manual"
  }
) => Promise<Response>

/**
 * The upstream calls' `fetch`: the global one, unless the runtime injects another (runtimes/node.ts gives undici's
 * pooled `request`: Node 20's `fetch` cost a miss more than everything else the gateway does).
 */
export const UpstreamFetch = Context.Reference<UpstreamFetchFunction>("isartor/UpstreamFetch", {
  defaultValue: () => (url, init) => fetch(url, init)
})

/** A body already serialised (the client's own bytes, passed through): posted as it is. */
export class JsonText {
  constructor(readonly text: string, readonly bytes?: Uint8Array<ArrayBuffer>) {}
}

/**
 * The client's request in its own API, for an upstream that speaks it: its exact bytes when the model stays, else
 * the same body with the model mapped.
 */
export const sourcePayload = (source: SourceRequest, model: string): JsonText | Readonly<Record<string, unknown>> =>
  source.body.model === model
    ? new JsonText(source.text, source.received?.text === source.text ? source.received.bytes : undefined)
    : { ...source.body, model }

/** An upstream's answer as the transport hands it on: its whole body, read within bounds, or its guarded stream. */
export interface UpstreamReply {
  readonly status: number
  readonly headers: Headers
  readonly body: string | ReadableStream<Uint8Array>
}

/** How much of an upstream the gateway takes, and how long it waits (config: see each field). */
export interface TransportLimits {
  /** `l3_timeout_secs`: a whole answer, or a stream's headers. */
  readonly timeoutMs: number
  /** `l3_stream_idle_secs`: the longest silence within a stream. */
  readonly streamIdleMs: number
  /** `max_upstream_body_bytes`: an answer's bytes, streamed or not. */
  readonly maxBodyBytes: number
  /** `max_sse_line_bytes`: the longest line of an event stream. */
  readonly maxSseLineBytes: number
}

/** An error body tells what went wrong in its first bytes; the rest is not read. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The configured bounds of upstream calls. */
export const transportLimits = (config: {
  readonly l3_timeout_secs: number
  readonly l3_stream_idle_secs: number
  readonly max_upstream_body_bytes: number
  readonly max_sse_line_bytes: number
}): TransportLimits => ({
  timeoutMs: config.l3_timeout_secs * 1000,
  streamIdleMs: config.l3_stream_idle_secs * 1000,
  maxBodyBytes: config.max_upstream_body_bytes,
  maxSseLineBytes: config.max_sse_line_bytes
})

/** A read of an upstream body that went past its bound: the part read is dropped, the rest never read. */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes (max_upstream_body_bytes)`)
  }
}

/**
 * Reads a body up to `limit` bytes as text. Past the limit the read stops and the stream is cancelled (so a
 * decompression bomb inflates no further), and `onOver` decides: fail, or keep what was read (an error body).
 */
export const readBounded = async (
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  onOver: "fail" | "truncate"
): Promise<string> => {
  if (body === null) return ""
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let text = ""
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return text + decoder.decode()
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      if (onOver === "fail") throw new BodyTooLarge(limit)
      return text + decoder.decode(value.subarray(0, value.byteLength - (size - limit)))
    }
    text += decoder.decode(value, { stream: true })
  }
}

/**
 * An upstream event stream within bounds: ended with an error when it goes `idleMs` without a byte (the call is
 * aborted, which is what frees its socket) or passes `maxBytes`. A stream that keeps sending is never cut.
 */
const guardedStream = (
  body: ReadableStream<Uint8Array>,
  limits: TransportLimits,
  abort: (reason: Error) => void
): ReadableStream<Uint8Array> => {
  const reader = body.getReader()
  let size = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let idle: Error | undefined
      const timer = setTimeout(() => {
        idle = new Error(`no event for ${limits.streamIdleMs / 1000} s (l3_stream_idle_secs)`)
        abort(idle)
        void reader.cancel(idle).catch(() => undefined)
      }, limits.streamIdleMs)
      try {
        const { done, value } = await reader.read()
        if (idle) throw idle
        if (done) return controller.close()
        size += value.byteLength
        if (size > limits.maxBodyBytes) {
          await reader.cancel().catch(() => undefined)
          throw new BodyTooLarge(limits.maxBodyBytes)
        }
        controller.enqueue(value)
      } catch (error) {
        throw idle ?? error
      } finally {
        clearTimeout(timer)
      }
    },
    cancel: (reason) => reader.cancel(reason)
  }, { highWaterMark: 0 })
}

/** A redirect's target host, for the message: where the upstream wanted the prompt to go. */
const redirectTarget = (headers: Headers, url: string): string => {
  const location = headers.get("location")
  if (location === null) return "no location"
  return URL.canParse(location, url) ? new URL(location, url).host : "an unreadable location"
}

export interface Transport {
  readonly fail: (
    reason: ProviderErrorReason,
    message: string,
    extra?: { upstreamStatus?: number; retryAfterMs?: number }
  ) => ProviderError
  /** The failure of a call to a provider that needs a key and has none, naming the variable that sets it. */
  readonly notConfigured: (keyVariable: string) => ProviderError
  /**
   * The JSON answer when it has the shape `isWellFormed` checks, else an upstream failure naming what it is not:
   * a 200 whose body no renderer or cache can use is never an answer.
   */
  readonly wellFormedJson: <A>(
    reply: UpstreamReply | Response,
    isWellFormed: (answer: unknown) => answer is A,
    notWhat: string
  ) => Effect.Effect<A, ProviderError>
  /**
   * POSTs JSON. A non-2xx answer becomes a `ProviderError` whose reason follows the status; a redirect or a
   * compressed answer (the call asks for `identity`) is refused, never followed or inflated. An event stream comes
   * back as a stream (bounded: `streamIdleMs`, `maxBodyBytes`), anything else read whole within `maxBodyBytes` and
   * `timeoutMs`.
   */
  readonly post: (
    url: string,
    headers: Record<string, string>,
    body: unknown
  ) => Effect.Effect<UpstreamReply, ProviderError>
  readonly json: <A>(reply: UpstreamReply | Response) => Effect.Effect<A, ProviderError>
  /** GETs a URL within the same bounds and reads its answer whole: the background health check's models listing. */
  readonly get: (url: string, headers: Record<string, string>) => Effect.Effect<UpstreamReply, ProviderError>
  /**
   * A streamed answer as OpenAI chunk SSE: the upstream's own, or re-framed by `translation`. Either way its error
   * events are scrubbed like any error message, an error event is its last, and a broken read (or a line longer
   * than `maxSseLineBytes`) ends it with one.
   */
  readonly stream: (
    reply: UpstreamReply | Response,
    translation?: StreamTranslation
  ) => Effect.Effect<ReadableStream<Uint8Array>, ProviderError>
}

type Fail = Transport["fail"]

const tooLarge = (fail: Fail, limits: TransportLimits, status: number) =>
  fail("Refused", `upstream answer is larger than ${limits.maxBodyBytes} bytes (max_upstream_body_bytes)`, {
    upstreamStatus: status
  })

/** What is refused of an answer before a byte of its body is read: a redirect, a compressed body. */
const refusalOf = (response: Response, url: string, fail: Fail): ProviderError | undefined => {
  const { status } = response
  if (status >= 300 && status < 400) {
    return fail(
      "Refused",
      `upstream answered ${status}, a redirect to ${
        redirectTarget(response.headers, url)
      }; redirects are not followed: set the provider's URL to where it points`,
      { upstreamStatus: status }
    )
  }
  const encoding = (response.headers.get("content-encoding") ?? "identity").trim().toLowerCase()
  if (encoding === "identity" || encoding === "") return undefined
  return fail(
    "Refused",
    `upstream answered with content-encoding ${encoding}, though the gateway asked for identity; compressed answers are not inflated`,
    { upstreamStatus: status }
  )
}

/** An answer as the transport hands it on: refused, failed, streamed (guarded) or read whole, each within its bound. */
const answerOf = async (
  response: Response,
  url: string,
  limits: TransportLimits,
  fail: Fail,
  abort: (reason: Error) => void
): Promise<UpstreamReply> => {
  const { status } = response
  const refused = refusalOf(response, url, fail)
  if (refused) {
    await response.body?.cancel().catch(() => undefined)
    throw refused
  }
  if (!response.ok) {
    const text = await readBounded(response.body, MAX_ERROR_BODY_BYTES, "truncate")
    const retryAfter = retryAfterMs(response.headers)
    throw fail(reasonFor(status, text), upstreamMessage(text, status, response.statusText), {
      upstreamStatus: status,
      ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {})
    })
  }
  if (response.body !== null && (response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return { status, headers: response.headers, body: guardedStream(response.body, limits, abort) }
  }
  const text = await readBounded(response.body, limits.maxBodyBytes, "fail").catch((error: unknown) => {
    throw error instanceof BodyTooLarge ? tooLarge(fail, limits, status) : error
  })
  return { status, headers: response.headers, body: text }
}

/**
 * One call: asks for identity and no redirect, within `timeoutMs` until the answer is read whole or its stream has
 * begun (then the stream's own idle bound takes over); a request abandoned by its client aborts it.
 */
const callUpstream = async (
  upstreamFetch: UpstreamFetchFunction,
  call: {
    readonly url: string
    readonly headers: Record<string, string>
    readonly payload: string | Uint8Array<ArrayBuffer> | undefined
  },
  interrupted: AbortSignal,
  limits: TransportLimits,
  fail: Fail
): Promise<UpstreamReply> => {
  const controller = new AbortController()
  // The request was abandoned (its client left): so is the call, and the upstream's socket with it.
  interrupted.addEventListener("abort", () => controller.abort(), { once: true })
  let timedOut = false
  const deadline = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  try {
    const response = await upstreamFetch(call.url, {
      method: call.payload === undefined ? "GET" : "POST",
      // `identity`: an answer the gateway reads is never inflated past what it can bound.
      headers: {
        ...(call.payload === undefined ? {} : { "content-type": "application/json" }),
        ...call.headers,
        "accept-encoding": "identity"
      },
      body: call.payload,
      signal: controller.signal,
      redirect: "manual"
    })
    return await answerOf(response, call.url, limits, fail, (reason) => controller.abort(reason))
  } catch (error) {
    if (error instanceof ProviderError) throw error
    if (timedOut) throw fail("Timeout", `no answer within ${limits.timeoutMs / 1000} s`)
    throw fail(
      "Unreachable",
      `cannot reach ${URL.canParse(call.url) ? new URL(call.url).host : call.url}: ${
        error instanceof Error
          ? (error.cause instanceof Error ? error.cause.message : error.message)
          : String(error)
      }`
    )
  } finally {
    clearTimeout(deadline)
  }
}

/** A `Response` handed in from elsewhere (the proxy's own calls) read as the transport reads its own. */
const replyOf = (
  reply: UpstreamReply | Response,
  limits: TransportLimits,
  fail: Fail
): Effect.Effect<UpstreamReply, ProviderError> => {
  if (!(reply instanceof Response)) return Effect.succeed(reply)
  if ((reply.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // Its call is not ours to abort: cancelling the stream is how it ends.
    const body = reply.body === null ? "" : guardedStream(reply.body, limits, () => undefined)
    return Effect.succeed({ status: reply.status, headers: reply.headers, body })
  }
  return Effect.tryPromise({
    try: () => readBounded(reply.body, limits.maxBodyBytes, "fail"),
    catch: (error) =>
      error instanceof BodyTooLarge
        ? tooLarge(fail, limits, reply.status)
        : fail("Upstream", "upstream answer broke off", { upstreamStatus: reply.status })
  }).pipe(Effect.map((text) => ({ status: reply.status, headers: reply.headers, body: text })))
}

/** The HTTP plumbing every provider shares: bounds and timeouts, error mapping, credential scrubbing. */
export const makeTransport = (
  provider: string,
  settings: { readonly apiKey: ApiKeys } & TransportLimits
): Transport => {
  const limits: TransportLimits = settings
  const fail: Fail = (reason, message, extra = {}) =>
    new ProviderError({ provider, reason, message: scrub(message, settings.apiKey), ...extra })
  // As in `scrub`: a key too short to be a key is not looked for in every chunk of every answer.
  const keys = keysOf(settings.apiKey).filter((key) => key.length >= 4)
  const redact: Redactor = {
    error: (text) => scrub(text, settings.apiKey),
    text: keys.length === 0 ?
      (text) => text :
      (text) => keys.reduce((out, key) => (out.includes(key) ? out.split(key).join("[redacted]") : out), text)
  }
  const json = <A>(reply: UpstreamReply | Response) =>
    Effect.flatMap(replyOf(reply, limits, fail), ({ body, status }) =>
      Effect.try({
        try: () => JSON.parse(typeof body === "string" ? body : "") as A,
        catch: () => fail("Upstream", "upstream answered with a body that is not JSON", { upstreamStatus: status })
      }))
  /** One call: a POST of `payload`, or a GET without one. */
  const send = (url: string, headers: Record<string, string>, payload: string | Uint8Array<ArrayBuffer> | undefined) =>
    Effect.gen(function*() {
      const upstreamFetch = yield* UpstreamFetch
      return yield* Effect.tryPromise({
        try: (interrupted) => callUpstream(upstreamFetch, { url, headers, payload }, interrupted, limits, fail),
        catch: (error) => error as ProviderError
      })
    })
  return {
    fail,
    notConfigured: (keyVariable) =>
      fail("NotConfigured", `no provider key is configured for ${provider}: set ${keyVariable}`),
    wellFormedJson: (reply, isWellFormed, notWhat) =>
      Effect.flatMap(json<unknown>(reply), (answer) =>
        isWellFormed(answer)
          ? Effect.succeed(answer)
          : Effect.fail(fail("Upstream", `upstream answer is not ${notWhat}`, { upstreamStatus: reply.status }))),
    post: (url, headers, body) =>
      Effect.suspend(() =>
        // Serialised before the call: a body that cannot be serialised is not a network failure to retry.
        send(url, headers, body instanceof JsonText ? body.bytes ?? body.text : JSON.stringify(body))
      ),
    json,
    get: (url, headers) => send(url, headers, undefined),
    stream: (reply, translation) =>
      Effect.map(replyOf(reply, limits, fail), ({ body }) => {
        // A JSON answer to a stream request is read as the one event it is.
        const stream = typeof body === "string" ? new Blob([body]).stream() : body
        return translation
          ? translateStream(stream, redact, translation, limits.maxSseLineBytes)
          : relayStream(stream, redact, limits.maxSseLineBytes)
      })
  }
}
