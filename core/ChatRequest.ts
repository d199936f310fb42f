import { Effect, Schema } from "effect"
import { BadRequest } from "./errors.ts"

/** Which API the client spoke: it is part of the cache scope and decides how an answer is rendered. */
export type EndpointFamily = "openai" | "native"

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
}

const ContentPart = Schema.StructWithRest(Schema.Struct({ type: Schema.String }), [
  Schema.Record(Schema.String, Schema.Unknown)
])

const Message = Schema.StructWithRest(
  Schema.Struct({
    role: Schema.Literals(["system", "developer", "user", "assistant", "tool", "function"]),
    content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)])))
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

/** The fields we check; everything else in the body passes through untouched. */
const OpenAIChatBody = Schema.StructWithRest(
  Schema.Struct({
    model: Schema.optional(Schema.String),
    messages: Schema.NonEmptyArray(Message),
    stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
    temperature: OptionalNumber,
    top_p: OptionalNumber,
    max_tokens: OptionalNumber,
    n: OptionalNumber,
    seed: OptionalNumber,
    tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.Record(Schema.String, Schema.Unknown))))
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)

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

const decodeWith = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, body: unknown) =>
  Schema.decodeUnknownEffect(schema)(body).pipe(
    Effect.mapError((error) => new BadRequest({ status: 400, message: describeIssue(error) }))
  )

/** Parses a request body as JSON, with a message that says what is wrong. */
export const parseJsonBody = (text: string): Effect.Effect<unknown, BadRequest> => {
  if (text.trim() === "") return Effect.fail(new BadRequest({ status: 400, message: "request body is empty; expected JSON" }))
  return Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) =>
      new BadRequest({
        status: 400,
        message: `request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`
      })
  })
}

const notAnObject = (body: unknown) =>
  typeof body !== "object" || body === null || Array.isArray(body)
    ? Effect.fail(new BadRequest({ status: 400, message: "request body must be a JSON object" }))
    : Effect.void

export interface RequestContext {
  readonly defaultModel: string
  readonly tenant: string
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
}

/** `POST /v1/chat/completions`: validates the OpenAI body and keeps it whole for the upstream. */
export const fromOpenAIBody = Effect.fn("ChatRequest.fromOpenAIBody")(function*(body: unknown, context: RequestContext) {
  yield* notAnObject(body)
  const raw = body as Record<string, unknown>
  if (!Array.isArray(raw.messages) || raw.messages.length === 0) {
    return yield* new BadRequest({
      status: 400,
      message: "messages: required, a non-empty array of chat messages",
      param: "messages"
    })
  }
  const checked = yield* decodeWith(OpenAIChatBody, body)
  const model = checked.model !== undefined && checked.model.trim() !== "" ? checked.model : context.defaultModel
  return {
    family: "openai",
    body: { ...raw, model },
    model,
    stream: checked.stream === true,
    tenant: context.tenant,
    cacheRead: context.cacheRead,
    cacheWrite: context.cacheWrite
  } satisfies ChatRequest
})

/** `POST /api/chat`: `{"prompt", "model"?}` becomes a one-message chat request. */
export const fromNativeBody = Effect.fn("ChatRequest.fromNativeBody")(function*(body: unknown, context: RequestContext) {
  yield* notAnObject(body)
  const checked = yield* decodeWith(NativeChatBody, body)
  if (checked.prompt.trim() === "") {
    return yield* new BadRequest({ status: 400, message: "prompt: must not be empty", param: "prompt" })
  }
  const model = checked.model !== undefined && checked.model.trim() !== "" ? checked.model : context.defaultModel
  return {
    family: "native",
    body: { model, messages: [{ role: "user", content: checked.prompt }] },
    model,
    stream: false,
    tenant: context.tenant,
    cacheRead: context.cacheRead,
    cacheWrite: context.cacheWrite
  } satisfies ChatRequest
})
