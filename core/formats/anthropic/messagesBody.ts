import { Exit, Schema } from "effect"
import {
  badRequest,
  chatRequest,
  decoderFor,
  isObject,
  otherKind,
  pickModel,
  type RequestDecoder,
  TextPart
} from "../../domain/ChatRequest.ts"
import { fromAnthropicRequest } from "./request.ts"

/** The Anthropic Messages body as a client sends it: the fields checked; everything else passes through untouched. */
const ImageBlock = Schema.Struct({
  type: Schema.Literal("image"),
  source: Schema.Union([
    Schema.Struct({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String }),
    Schema.Struct({ type: Schema.Literal("url"), url: Schema.String })
  ]).annotate({ expected: `an image source: {"type": "base64", "media_type", "data"} or {"type": "url", "url"}` })
})

/** What a tool result may hold: text, images, or (unchecked) other kinds. */
const ResultBlock = Schema.Union([TextPart, ImageBlock, otherKind("text", "image")])
  .annotate({ expected: "a content block: an object with a type" })

const Block = Schema.Union([
  TextPart,
  ImageBlock,
  Schema.Struct({
    type: Schema.Literal("tool_use"),
    id: Schema.String,
    name: Schema.String,
    input: Schema.Record(Schema.String, Schema.Unknown)
  }),
  Schema.Struct({
    type: Schema.Literal("tool_result"),
    tool_use_id: Schema.String,
    content: Schema.optional(Schema.Union([Schema.String, Schema.Array(ResultBlock)]))
  }),
  otherKind("text", "image", "tool_use", "tool_result")
]).annotate({ expected: "a content block: an object with a type" })

const AnthropicMessagesBody = Schema.Struct({
  model: Schema.String,
  max_tokens: Schema.Number,
  // Claude Code 2.x sends system turns in the middle of `messages` (a beta of the Messages API).
  messages: Schema.NonEmptyArray(Schema.Struct({
    role: Schema.Literals(["user", "assistant", "system"]),
    content: Schema.Union([Schema.String, Schema.Array(Block)])
  })),
  system: Schema.optional(Schema.Union([
    Schema.String,
    Schema.Array(Schema.Union([TextPart, otherKind("text")]).annotate({ expected: "a text block" }))
  ])),
  stream: Schema.optional(Schema.Boolean),
  temperature: Schema.optional(Schema.Number),
  top_p: Schema.optional(Schema.Number),
  stop_sequences: Schema.optional(Schema.Array(Schema.String)),
  // A client tool has a name; a server tool (web search, code execution, an MCP toolset…) a type, maybe no name.
  tools: Schema.optional(Schema.Array(
    Schema.Union([Schema.Struct({ name: Schema.String }), Schema.Struct({ type: Schema.String })])
      .annotate({ expected: "a tool: an object with a name (a server tool: with a type)" })
  )),
  tool_choice: Schema.optional(Schema.NullOr(Schema.Union([
    Schema.Struct({ type: Schema.Literal("tool"), name: Schema.String }),
    Schema.Struct({ type: Schema.Literals(["auto", "any", "none"]) })
  ])))
})

const decodeAnthropicBody = decoderFor(AnthropicMessagesBody)

/** `POST /v1/messages`: an Anthropic Messages body, carried through the pipeline in the canonical OpenAI form. */
export const fromAnthropicBody: RequestDecoder = (body, context) => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return badRequest("messages: required, a non-empty array of messages", "messages")
  }
  const checked = decodeAnthropicBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  return Exit.succeed(chatRequest(
    "anthropic",
    fromAnthropicRequest(body),
    pickModel(checked.value.model, context),
    checked.value.stream === true,
    context,
    body
  ))
}
