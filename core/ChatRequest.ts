import { Exit, Schema } from "effect"
import { BadRequest } from "./errors.ts"
import { fromAnthropicRequest } from "./formats/anthropic/request.ts"

/** Which API the client spoke: it is part of the cache scope and decides how an answer is rendered. */
export type EndpointFamily = "openai" | "anthropic" | "native"

/**
 * One request on its way through the pipeline. `body` is the OpenAI Chat Completions body sent upstream, exactly
 * as the client wrote it (model filled in when absent); the cache flags come from `Cache-Control`.
 */
export interface ChatRequest {
  readonly family: EndpointFamily
  readonly body: Readonly<Record<string, unknown>>
  readonly model: string
  readonly stream: boolean
  /** A hash of the caller's credential and session: entries never cross it. */
  readonly tenant: string
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  /** `X-Isartor-Similarity-Threshold`: overrides `similarity_threshold` for this request. */
  readonly similarityThreshold?: number | undefined
}

// Structs check the fields they name and let every other field through: the body goes upstream as the client
// wrote it, so validation only has to reject what the upstream would (and say so more clearly).
const ContentPart = Schema.Struct({ type: Schema.String })

const Message = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool", "function"]),
  content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)])))
})

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

/** The fields we check; everything else in the body passes through untouched. */
const OpenAIChatBody = Schema.Struct({
  model: Schema.optional(Schema.String),
  messages: Schema.NonEmptyArray(Message),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  temperature: OptionalNumber,
  top_p: OptionalNumber,
  max_tokens: OptionalNumber,
  n: OptionalNumber,
  seed: OptionalNumber,
  tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.Record(Schema.String, Schema.Unknown))))
})

const Blocks = Schema.Array(Schema.Struct({ type: Schema.String }))

const AnthropicMessagesBody = Schema.Struct({
  model: Schema.String,
  max_tokens: Schema.Number,
  messages: Schema.NonEmptyArray(Schema.Struct({
    role: Schema.Literals(["user", "assistant"]),
    content: Schema.Union([Schema.String, Blocks])
  })),
  system: Schema.optional(Schema.Union([Schema.String, Blocks])),
  stream: Schema.optional(Schema.Boolean),
  tools: Schema.optional(Schema.Array(Schema.Struct({ name: Schema.String })))
})

const NativeChatBody = Schema.Struct({
  prompt: Schema.String,
  model: Schema.optional(Schema.String)
})

/** Turns a schema failure into one line a person can act on: `messages[0].role: Expected "system" | …`. */
const describeIssue = (error: Schema.SchemaError): string => {
  const [first, ...rest] = error.message.split("\n")
  const at = rest.find((line) => line.trim().startsWith("at "))?.trim().slice(3)
  const path = at?.replace(/\["([^"]+)"\]/g, ".$1").replace(/\[(\d+)\]/g, "[$1]").replace(/^\./, "")
  return path ? `${path}: ${first}` : first ?? "invalid request body"
}

const badRequest = (message: string, param?: string) =>
  Exit.fail(new BadRequest({ status: 400, message, ...(param !== undefined ? { param } : {}) }))

/**
 * Built once per schema. A valid body (nearly all of them) takes the cheap type guard; only an invalid one pays
 * for the full decode that explains what is wrong.
 */
const decoderFor = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const isValid = Schema.is(schema)
  const decode = Schema.decodeUnknownExit(schema as Schema.Top as Schema.Codec<S["Type"], unknown>)
  return (body: unknown): Exit.Exit<S["Type"], BadRequest> => {
    if (isValid(body)) return Exit.succeed(body)
    const exit = decode(body)
    if (Exit.isSuccess(exit)) return Exit.succeed(exit.value)
    const error = Exit.findErrorOption(exit)
    return badRequest(error._tag === "Some" ? describeIssue(error.value) : "invalid request body")
  }
}
const decodeOpenAIBody = decoderFor(OpenAIChatBody)
const decodeNativeBody = decoderFor(NativeChatBody)
const decodeAnthropicBody = decoderFor(AnthropicMessagesBody)

// The request decoders are plain synchronous functions returning an Exit (itself an Effect): they run on every
// request, and a chain of effect steps costs more here than the checks themselves.

/** Parses a request body as JSON, with a message that says what is wrong. */
export const parseJsonBody = (text: string): Exit.Exit<unknown, BadRequest> => {
  if (text.trim() === "") return badRequest("request body is empty; expected JSON")
  try {
    return Exit.succeed(JSON.parse(text) as unknown)
  } catch (error) {
    return badRequest(`request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
}

const isObject = (body: unknown): body is Record<string, unknown> =>
  typeof body === "object" && body !== null && !Array.isArray(body)

const pickModel = (model: string | undefined, context: RequestContext) =>
  model !== undefined && model.trim() !== "" ? model : context.defaultModel

export interface RequestContext {
  readonly defaultModel: string
  readonly tenant: string
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  readonly similarityThreshold?: number | undefined
}

export type RequestDecoder = (body: unknown, context: RequestContext) => Exit.Exit<ChatRequest, BadRequest>

const accepted = (
  family: EndpointFamily,
  body: Record<string, unknown>,
  model: string,
  stream: boolean,
  context: RequestContext
): Exit.Exit<ChatRequest, BadRequest> =>
  Exit.succeed({
    family,
    body: { ...body, model },
    model,
    stream,
    tenant: context.tenant,
    cacheRead: context.cacheRead,
    cacheWrite: context.cacheWrite,
    similarityThreshold: context.similarityThreshold
  })

/** `POST /v1/chat/completions`: validates the OpenAI body and keeps it whole for the upstream. */
export const fromOpenAIBody: RequestDecoder = (body, context) => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return badRequest("messages: required, a non-empty array of chat messages", "messages")
  }
  const checked = decodeOpenAIBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  return accepted("openai", body, pickModel(checked.value.model, context), checked.value.stream === true, context)
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

/** `POST /v1/messages`: an Anthropic Messages body, carried through the pipeline in the canonical OpenAI form. */
export const fromAnthropicBody: RequestDecoder = (body, context) => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return badRequest("messages: required, a non-empty array of messages", "messages")
  }
  const checked = decodeAnthropicBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  return accepted("anthropic", fromAnthropicRequest(body), pickModel(checked.value.model, context), checked.value.stream === true, context)
}
