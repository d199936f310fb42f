import { Exit, Schema } from "effect"
import { badRequest, decoderFor, isObject } from "./ChatRequest.ts"
import type { BadRequest } from "./errors.ts"

// The OpenAI Responses API body, checked as loosely as the Chat Completions one: the fields the gateway reads
// (to translate and cache the request) must have their type; everything else passes, so a new field never breaks
// a client.

const OptionalNumber = Schema.optional(Schema.NullOr(Schema.Number))

/** An input item: a message (the default type), a function call or its output; other kinds unchecked. */
const InputItem = Schema.Union([
  Schema.Struct({
    type: Schema.optional(Schema.Literal("message")),
    role: Schema.Literals(["user", "assistant", "system", "developer"]),
    content: Schema.Union([Schema.String, Schema.Array(Schema.Struct({ type: Schema.String }))])
  }),
  Schema.Struct({
    type: Schema.Literal("function_call"),
    call_id: Schema.String,
    name: Schema.String,
    arguments: Schema.String
  }),
  Schema.Struct({
    type: Schema.Literal("function_call_output"),
    call_id: Schema.String,
    output: Schema.Union([Schema.String, Schema.Array(Schema.Struct({ type: Schema.String }))])
  }),
  Schema.Struct({
    type: Schema.String.check(
      Schema.makeFilter((type: string) => !["message", "function_call", "function_call_output"].includes(type))
    )
  })
]).annotate({ expected: "an input item: a message with a role and content, a function_call or a function_call_output" })

const Tool = Schema.Union([
  Schema.Struct({ type: Schema.Literal("function"), name: Schema.String }),
  Schema.Struct({ type: Schema.String.check(Schema.makeFilter((type: string) => type !== "function")) })
]).annotate({ expected: "a tool: an object with a type (a function tool also has a name)" })

const ResponsesBody = Schema.Struct({
  model: Schema.optional(Schema.String),
  input: Schema.Union([Schema.String, Schema.Array(InputItem)]),
  instructions: Schema.optional(Schema.NullOr(Schema.String)),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Tool))),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Union([
    Schema.Literals(["auto", "none", "required"]),
    Schema.Struct({ type: Schema.String })
  ]))),
  previous_response_id: Schema.optional(Schema.NullOr(Schema.String)),
  store: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  max_output_tokens: OptionalNumber,
  temperature: OptionalNumber,
  top_p: OptionalNumber
})

export type ResponsesBody = typeof ResponsesBody.Type

const decodeResponsesBody = decoderFor(ResponsesBody)

/** `POST /v1/responses`: the checked body, as sent (the route translates it once it knows the history). */
export const checkResponsesBody = (body: unknown): Exit.Exit<Record<string, unknown>, BadRequest> => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (body.input === undefined) return badRequest("input: required, a string or an array of input items", "input")
  const checked = decodeResponsesBody(body)
  return Exit.isSuccess(checked) ? Exit.succeed(body) : Exit.failCause(checked.cause)
}
