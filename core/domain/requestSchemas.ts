import { Exit, Schema } from "effect"
import { SchemaJITCompiler } from "effect/schema"
import { type BadRequest, badRequest } from "./errors.ts"

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

/** Whether `decoderFor` compiles its schemas: off only where a test compares the compiled with the interpreted. */
let compiled = true
/** Decoders first used after this call interpret their schemas (`test/domain/decoderJit.test.ts`, in a worker). */
export const interpretDecoders = () => {
  compiled = false
}

/**
 * Built once per schema, on first use. A valid body (nearly all of them) takes the cheap type guard; only an invalid
 * one pays for the full decode that explains what is wrong. The schema is compiled to a function (Effect's JIT
 * compiler): interpreted, the guard walked a coding agent's 40 turns at a cost of the same order as parsing them
 * (`bench/README.md`, the agent row). A schema that cannot be compiled stays interpreted.
 */
export const decoderFor = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  let checks: { readonly isValid: (body: unknown) => boolean; readonly decode: ReturnType<typeof decodeOf<S>> }
  return (body: unknown): Exit.Exit<S["Type"], BadRequest> => {
    checks ??= checksOf(schema)
    if (checks.isValid(body)) return Exit.succeed(body)
    const exit = checks.decode(body)
    if (Exit.isSuccess(exit)) return Exit.succeed(exit.value)
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return badRequest("invalid request body")
    const { message, param } = describeIssue(error.value)
    return badRequest(message, param)
  }
}
const decodeOf = <S extends Schema.Top>(schema: S) =>
  Schema.decodeUnknownExit(schema as Schema.Top as Schema.Codec<S["Type"], unknown>)
const checksOf = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  if (compiled) SchemaJITCompiler.enable(schema.ast)
  return { isValid: Schema.is(schema), decode: decodeOf(schema) }
}
export const decodeOpenAIBody = decoderFor(OpenAIChatBody)
export const decodeNativeBody = decoderFor(NativeChatBody)
