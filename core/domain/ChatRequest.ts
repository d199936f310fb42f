import { Exit, Schema } from "effect"
import type { RequestSpan } from "../observability/RequestSpan.ts"
import { BadRequest, messageOf } from "./errors.ts"
import type { ChatMessage } from "./messages.ts"

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
  readonly received?: { readonly text: string; readonly bytes: Uint8Array<ArrayBuffer> } | undefined
  /** The body, parsed: the client's API, not the canonical form. */
  readonly body: Readonly<Record<string, unknown>>
  /** The protocol headers of the client's API it sent (`anthropic-version`, `anthropic-beta`, `openai-project`…). */
  readonly headers: Readonly<Record<string, string>>
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
  request: Pick<ChatRequest, "source">
): Readonly<Record<string, string>> | undefined => {
  const source = request.source
  return source === undefined ? undefined : answerHeadersOf(source.format, (name) => source.headers[name])
}

/**
 * One request on its way through the pipeline. `body` is the OpenAI Chat Completions body sent upstream, exactly
 * as the client wrote it (model filled in when absent); the cache flags come from `Cache-Control`.
 */
export interface ChatRequest {
  readonly family: EndpointFamily
  readonly body: Readonly<Record<string, unknown>>
  /** `body.messages`, decoded: what the layers read of the conversation. */
  readonly messages: ReadonlyArray<ChatMessage>
  readonly model: string
  readonly stream: boolean
  /** A hash of the caller's credential and session: entries never cross it. */
  readonly tenant: string
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  /** `X-Isartor-Similarity-Threshold`: overrides `similarity_threshold` for this request. */
  readonly similarityThreshold?: number | undefined
  /** `X-Isartor-L1b-Error-Budget`: a tighter false-hit budget than `l1b_error_budget` for this request. */
  readonly l1bErrorBudget?: number | undefined
  /** `Cache-Control: max-age=N`: a cached answer serves only if at most this old. */
  readonly maxAgeMs?: number | undefined
  /** `Cache-Control: s-maxage=N` / `X-Isartor-Cache-TTL: N`: how long this answer is kept (capped by the TTL). */
  readonly storeTtlMs?: number | undefined
  /** `Cache-Control: only-if-cached`: answered from the caches or not at all (504). */
  readonly onlyIfCached?: boolean | undefined
  /** What the client sent, for same-format pass-through; absent for requests the gateway composed itself. */
  readonly source?: SourceRequest | undefined
  /** With traces exported: opens this request's `gateway.request` span once it misses L1a. */
  readonly trace?: RequestSpan | undefined
  /** The provider a model alias named (`smart = "anthropic/…"`): the chain starts there; absent: the primary. */
  readonly provider?: string | undefined
  /** The label of the caller's gateway key (`[[gateway_keys]]`), when it has one: whose budget it spends. */
  readonly callerLabel?: string | undefined
  /**
   * Set when a `[routing]` rule sent the request to another model: the tier it matched. Only the rule's provider is
   * asked; the default chain answers the original request when it fails.
   */
  readonly routedTier?: string | undefined
}

/** What a model alias stands for: the model asked for, and the provider asked when it names one. */
export interface ModelAlias {
  readonly model: string
  readonly provider?: string
}

// Structs check the fields they name and let every other field through: the body goes upstream as the client
// wrote it, so validation only has to reject what the upstream would (and say so more clearly) — and every shape
// the gateway itself reads (to cache, route or translate a request), so a wrong type is a 400, never a crash.

/** Any kind of item but the ones named, let through unchecked: an upstream may know kinds the gateway does not. */
export const otherKind = (...known: ReadonlyArray<string>) =>
  Schema.Struct({ type: Schema.String.check(Schema.makeFilter((type: string) => !known.includes(type))) })

export const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

const ContentPart = Schema.Union([
  TextPart,
  Schema.Struct({ type: Schema.Literal("image_url"), image_url: Schema.Struct({ url: Schema.String }) }),
  otherKind("text", "image_url")
]).annotate({ expected: "a content part: an object with a type" })

const ToolCall = Schema.Struct({
  id: Schema.String,
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

const Message = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool", "function"]),
  content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)]))),
  name: Schema.optional(Schema.String),
  tool_calls: Schema.optional(Schema.NullOr(Schema.Array(ToolCall))),
  tool_call_id: Schema.optional(Schema.String)
})

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

const FunctionName = Schema.Struct({ name: Schema.String })

/** The fields we check; everything else in the body passes through untouched. */
const OpenAIChatBody = Schema.Struct({
  model: Schema.optional(Schema.String),
  messages: Schema.NonEmptyArray(Message),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  temperature: OptionalNumber,
  top_p: OptionalNumber,
  max_tokens: OptionalNumber,
  max_completion_tokens: OptionalNumber,
  n: OptionalNumber,
  seed: OptionalNumber,
  stop: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(Schema.String)]))),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.Union([
    Schema.Struct({ type: Schema.optional(Schema.Literal("function")), function: FunctionName }),
    otherKind("function")
  ])))),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Union([
    Schema.String,
    Schema.Struct({ type: Schema.Literal("function"), function: FunctionName }),
    otherKind("function")
  ])))
})

const NativeChatBody = Schema.Struct({
  prompt: Schema.String,
  model: Schema.optional(Schema.String)
})

/** A schema failure as one line a person can act on, `messages[0].role: Expected "system" | …`, and its field. */
const describeIssue = (error: Schema.SchemaError): { message: string; param?: string } => {
  const [first, ...rest] = error.message.split("\n")
  const at = rest.find((line) => line.trim().startsWith("at "))?.trim().slice(3)
  const path = at?.replace(/\["([^"]+)"\]/g, ".$1").replace(/\[(\d+)\]/g, "[$1]").replace(/^\./, "")
  return path ? { message: `${path}: ${first}`, param: path } : { message: first ?? "invalid request body" }
}

export const badRequest = (message: string, param?: string) =>
  Exit.fail(new BadRequest({ status: 400, message, ...(param !== undefined ? { param } : {}) }))

/**
 * Built once per schema. A valid body (nearly all of them) takes the cheap type guard; only an invalid one pays
 * for the full decode that explains what is wrong.
 */
export const decoderFor = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const isValid = Schema.is(schema)
  const decode = Schema.decodeUnknownExit(schema as Schema.Top as Schema.Codec<S["Type"], unknown>)
  return (body: unknown): Exit.Exit<S["Type"], BadRequest> => {
    if (isValid(body)) return Exit.succeed(body)
    const exit = decode(body)
    if (Exit.isSuccess(exit)) return Exit.succeed(exit.value)
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return badRequest("invalid request body")
    const { message, param } = describeIssue(error.value)
    return badRequest(message, param)
  }
}
const decodeOpenAIBody = decoderFor(OpenAIChatBody)
const decodeNativeBody = decoderFor(NativeChatBody)

// The request decoders are plain synchronous functions returning an Exit (itself an Effect): they run on every
// request, and a chain of effect steps costs more here than the checks themselves.

/**
 * The deepest a body may nest objects and arrays. Real requests, tool schemas included, stay far below it; past it,
 * the recursive code a body meets (the cache key's canonical JSON, the translations, `JSON.stringify`) overflows
 * the stack, and V8's `JSON.parse` alone spends seconds on a 10 MB run of brackets.
 */
export const MAX_BODY_DEPTH = 128

const QUOTE = 34
const BACKSLASH = 92

/** The index of the quote that closes the JSON string opened at `start`, or -1. */
const closingQuote = (text: string, start: number): number => {
  for (let i = text.indexOf("\"", start + 1); i >= 0; i = text.indexOf("\"", i + 1)) {
    let backslashes = 0
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return i
  }
  return -1
}

/** How many times `bracket` occurs in `text`, counting no further than `limit` + 1. */
const bracketsAtMost = (text: string, bracket: string, limit: number) => {
  let count = 0
  for (let at = text.indexOf(bracket); at >= 0 && count <= limit; at = text.indexOf(bracket, at + 1)) count++
  return count
}

/**
 * Where JSON text nests deeper than `MAX_BODY_DEPTH`: under which top-level field ("" when it cannot say), or
 * `undefined` when it does not. One pass over the text, before it is parsed, skipping strings with `indexOf`.
 */
const tooDeepUnder = (text: string): string | undefined => {
  // Nesting past the bound needs more opening brackets than the bound: most bodies have far fewer, counted natively.
  if (bracketsAtMost(text, "{", MAX_BODY_DEPTH) + bracketsAtMost(text, "[", MAX_BODY_DEPTH) <= MAX_BODY_DEPTH) {
    return undefined
  }
  let depth = 0
  let inObject = false
  let field = ""
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === QUOTE) {
      const end = closingQuote(text, i)
      if (end < 0) return undefined
      // In the top-level object, the last string before a nested value is that value's key.
      if (depth === 1 && inObject) field = text.slice(i, end + 1)
      i = end
    } else if (code === 123 || code === 91) {
      if (depth === 0) inObject = code === 123
      if (++depth > MAX_BODY_DEPTH) {
        try {
          return String(JSON.parse(field || "\"\"")).slice(0, 100)
        } catch {
          return ""
        }
      }
    } else if (code === 125 || code === 93) depth--
  }
  return undefined
}

/** Parses a request body as JSON, with a message that says what is wrong; nesting is bounded before parsing. */
export const parseJsonBody = (text: string): Exit.Exit<unknown, BadRequest> => {
  if (text.trim() === "") return badRequest("request body is empty; expected JSON")
  const deepField = tooDeepUnder(text)
  if (deepField !== undefined) {
    const nested = `nests objects and arrays more than ${MAX_BODY_DEPTH} levels deep`
    return deepField === "" ? badRequest(`request body ${nested}`) : badRequest(`${deepField}: ${nested}`, deepField)
  }
  try {
    return Exit.succeed(JSON.parse(text) as unknown)
  } catch (error) {
    return badRequest(`request body is not valid JSON: ${messageOf(error)}`)
  }
}

export const isObject = (body: unknown): body is Record<string, unknown> =>
  typeof body === "object" && body !== null && !Array.isArray(body)

export const pickModel = (model: string | undefined, context: RequestContext) =>
  model !== undefined && model.trim() !== "" ? model : context.defaultModel

export interface RequestContext {
  readonly defaultModel: string
  readonly tenant: string
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  readonly similarityThreshold?: number | undefined
  readonly l1bErrorBudget?: number | undefined
  readonly maxAgeMs?: number | undefined
  readonly storeTtlMs?: number | undefined
  readonly onlyIfCached?: boolean | undefined
  readonly trace?: RequestSpan | undefined
  /** The body's text and the protocol headers, as received. */
  readonly received?:
    | {
      readonly text: string
      readonly headers: Readonly<Record<string, string>>
      /** The bytes `text` was decoded from, when the edge kept them. */
      readonly bytes?: Uint8Array<ArrayBuffer> | undefined
    }
    | undefined
  /** `[model_aliases]`: a request naming one is the request for its model, before any cache key is made of it. */
  readonly aliases?: ReadonlyMap<string, ModelAlias> | undefined
  /** The label of the caller's gateway key, when it has one. */
  readonly callerLabel?: string | undefined
}

export type RequestDecoder = (body: unknown, context: RequestContext) => Exit.Exit<ChatRequest, BadRequest>

/** A checked request, in the canonical (Chat Completions) form, ready for the pipeline. */
export const chatRequest = (
  family: EndpointFamily,
  body: Record<string, unknown>,
  named: string,
  stream: boolean,
  context: RequestContext,
  /** The client's body in its own API, when the family is one an upstream can be sent as is. */
  original?: Record<string, unknown>
): ChatRequest => {
  const alias = context.aliases?.get(named)
  const model = alias?.model ?? named
  return {
    family,
    body: { ...body, model },
    // Checked by the decoder (the Anthropic and Responses translations produce the same shape).
    messages: body.messages as ReadonlyArray<ChatMessage>,
    model,
    stream,
    tenant: context.tenant,
    cacheRead: context.cacheRead,
    cacheWrite: context.cacheWrite,
    similarityThreshold: context.similarityThreshold,
    l1bErrorBudget: context.l1bErrorBudget,
    maxAgeMs: context.maxAgeMs,
    storeTtlMs: context.storeTtlMs,
    onlyIfCached: context.onlyIfCached,
    trace: context.trace,
    source: original !== undefined && context.received !== undefined &&
        (family === "openai" || family === "anthropic" || family === "gemini")
      ? {
        format: family,
        text: context.received.text,
        body: original,
        headers: context.received.headers,
        received: context.received.bytes === undefined
          ? undefined
          : { text: context.received.text, bytes: context.received.bytes }
      }
      : undefined,
    provider: alias?.provider,
    callerLabel: context.callerLabel
  }
}

const accepted = (...args: Parameters<typeof chatRequest>): Exit.Exit<ChatRequest, BadRequest> =>
  Exit.succeed(chatRequest(...args))

/** `POST /v1/chat/completions`: validates the OpenAI body and keeps it whole for the upstream. */
export const fromOpenAIBody: RequestDecoder = (body, context) => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return badRequest("messages: required, a non-empty array of chat messages", "messages")
  }
  const checked = decodeOpenAIBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  const model = pickModel(checked.value.model, context)
  return accepted("openai", body, model, checked.value.stream === true, context, body)
}

/** `POST /api/chat`: `{"prompt", "model"?}` becomes a one-message chat request. */
export const fromNativeBody: RequestDecoder = (body, context) => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  const checked = decodeNativeBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  if (checked.value.prompt.trim() === "") return badRequest("prompt: must not be empty", "prompt")
  const messages = [{ role: "user", content: checked.value.prompt }]
  return accepted("native", { messages }, pickModel(checked.value.model, context), false, context)
}
