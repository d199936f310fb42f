import { Effect } from "effect"
import { ProviderError } from "../domain/errors.ts"
import { type SourceRequest, unchangedBytes } from "../domain/SourceRequest.ts"
import { BodyTooLarge, guardedStream, readBounded, type TransportLimits } from "./bounds.ts"
import { callUpstream, tooLarge, UpstreamFetch, type UpstreamReply } from "./call.ts"
import { type ApiKeys, type Fail, keysOf, scrub } from "./failures.ts"
import { type Redactor, relayStream, type StreamTranslation, translateStream } from "./relay.ts"

export { BodyTooLarge, MAX_ERROR_BODY_BYTES, readBounded, type TransportLimits, transportLimits } from "./bounds.ts"
export { UpstreamFetch, type UpstreamFetchFunction, type UpstreamReply } from "./call.ts"
export { type ApiKeys, retryAfterMs, scrub } from "./failures.ts"

/**
 * A body already serialised (the client's own, passed through): posted as it is, as its bytes when it has them, its
 * text read only when it has none.
 */
export class JsonText {
  constructor(private readonly of: { readonly text: string }, readonly bytes?: Uint8Array<ArrayBuffer>) {}
  get text(): string {
    return this.of.text
  }
}

/**
 * The client's request in its own API, for an upstream that speaks it: its exact bytes when the model stays, else
 * the same body with the model mapped.
 */
export const sourcePayload = (
  source: Pick<SourceRequest, "text" | "body" | "received">,
  model: string
): JsonText | Readonly<Record<string, unknown>> =>
  source.body.model === model
    ? new JsonText(source, unchangedBytes(source))
    : { ...source.body, model }

export interface Transport {
  readonly fail: Fail
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
