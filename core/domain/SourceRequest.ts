import { hasBytes, type ReceivedBody, type ReceivedBytes } from "./receivedBody.ts"

/** Which API the client spoke: it is part of the cache scope and decides how an answer is rendered. */
export type EndpointFamily = "openai" | "anthropic" | "native" | "responses" | "gemini"

/**
 * The client's own request, kept for an upstream that speaks the same API: it receives these bytes (model mapped)
 * and these headers, so nothing the gateway does not know about is lost.
 */
export interface SourceRequest {
  readonly format: "openai" | "anthropic" | "gemini"
  /** The body exactly as received. */
  readonly text: string
  /**
   * The bytes `received.text` was decoded from, when the edge kept them: sent instead of `text` while `text` is still
   * that text (a layer that rewrites the body makes a new text, and the bytes no longer stand for it).
   */
  readonly received?: ReceivedBytes | undefined
  /** The body, parsed: the client's API, not the canonical form. */
  readonly body: Readonly<Record<string, unknown>>
  /** The protocol headers of the client's API it sent (`anthropic-version`, `anthropic-beta`, `openai-project`…). */
  readonly headers: Readonly<Record<string, string>>
}

/** Sources made by `withReceivedText` from a body kept as bytes: their text is still those bytes' text. */
const asReceived = new WeakSet<object>()

/**
 * `fields` with the received body's text, and its bytes when the edge kept them. The text is decoded only if
 * something reads it: a body sent on unchanged goes as its bytes and is keyed from them, so an agent's is never
 * decoded whole. A copy made by spreading it reads (decodes) the text.
 */
export const withReceivedText = <F extends object>(received: ReceivedBody, fields: F) => {
  const kept = hasBytes(received) ? received : undefined
  const source = {
    ...fields,
    get text(): string {
      return received.text
    },
    received: kept
  }
  if (kept !== undefined) asReceived.add(source)
  return source
}

/** The client's request as received (see `withReceivedText`). */
export const sourceOf = (
  format: SourceRequest["format"],
  received: ReceivedBody,
  body: Readonly<Record<string, unknown>>,
  headers: Readonly<Record<string, string>>
): SourceRequest => withReceivedText(received, { format, body, headers })

/**
 * The source without the bytes it came as, for what outlives the call (a stream's end reads its body and headers).
 * Its text, should anything read it, is its body serialised again.
 */
export const withoutReceived = (source: SourceRequest): SourceRequest => {
  const { format, body, headers } = source
  return {
    format,
    body,
    headers,
    get text() {
      return JSON.stringify(body)
    }
  }
}

/**
 * The bytes a source's body came as, while its text is still theirs: a layer that rewrites a body makes a new source
 * with a new text (spreading the old one), and the bytes no longer stand for it.
 */
export const unchangedBytes = (
  source: { readonly text: string; readonly received?: ReceivedBytes | undefined }
): Uint8Array<ArrayBuffer> | undefined => {
  const received = source.received
  if (received === undefined) return undefined
  return asReceived.has(source) || received.text === source.text ? received.bytes : undefined
}

/**
 * The request headers that change an answer, by the client API that sends them: an upstream of that API receives
 * them as sent (a beta turns on a feature, a version picks the API's behaviour). The one list both cache keys read —
 * L1a's key and L1b's scope — so the same question under another beta or version is never served the other's answer.
 * OpenAI's `openai-organization` / `openai-project` pick who is billed, not what is said: not listed.
 */
export const ANSWER_HEADERS: { readonly [F in EndpointFamily]?: ReadonlyArray<string> } = {
  anthropic: ["anthropic-beta", "anthropic-version"]
}

/** The answer-changing headers a request sent, name → value; `undefined` when it sent none. */
const answerHeadersOf = (
  family: EndpointFamily,
  headerOf: (name: string) => string | null | undefined
): Readonly<Record<string, string>> | undefined => {
  let found: Record<string, string> | undefined
  for (const name of ANSWER_HEADERS[family] ?? []) {
    const value = headerOf(name)
    if (value !== null && value !== undefined) (found ??= {})[name] = value
  }
  return found
}

/**
 * The same headers as one string, for a scope read on every exact hit (no object built): values in the list's order,
 * each ended by NUL, which no header value holds; an absent one is `\u0001`.
 */
export const answerHeaderScope = (family: EndpointFamily, headers: { get(name: string): string | null }): string => {
  const names = ANSWER_HEADERS[family]
  if (names === undefined) return ""
  let scope = ""
  for (const name of names) scope += `${headers.get(name) ?? "\u0001"}\u0000`
  return scope
}

/** What a decoded request sent of them: those of the client's own API, kept on its source. */
export const answerHeadersOfRequest = (
  request: { readonly source?: SourceRequest | undefined }
): Readonly<Record<string, string>> | undefined => {
  const source = request.source
  return source === undefined ? undefined : answerHeadersOf(source.format, (name) => source.headers[name])
}
