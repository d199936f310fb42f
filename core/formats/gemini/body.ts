import { Exit, Schema } from "effect"
import {
  badRequest,
  type ChatRequest,
  chatRequest,
  decoderFor,
  isObject,
  pickModel,
  type RequestContext
} from "../../domain/ChatRequest.ts"
import type { BadRequest } from "../../domain/errors.ts"
import { fromGeminiRequest } from "./request.ts"

/** The Gemini request as a client sends it: the fields the gateway reads are checked; the rest passes untouched. */
const Part = Schema.Record(Schema.String, Schema.Unknown).annotate({ expected: "a part: an object" })

const Content = Schema.Struct({
  role: Schema.optional(Schema.Literals(["user", "model", "function"])),
  parts: Schema.Array(Part)
})

const GeminiBody = Schema.Struct({
  contents: Schema.NonEmptyArray(Content),
  systemInstruction: Schema.optional(Schema.Union([Schema.String, Schema.Struct({ parts: Schema.Array(Part) })])),
  tools: Schema.optional(Schema.Array(Schema.Struct({
    functionDeclarations: Schema.optional(Schema.Array(Schema.Struct({ name: Schema.String })))
  }))),
  generationConfig: Schema.optional(Schema.Struct({
    temperature: Schema.optional(Schema.Number),
    topP: Schema.optional(Schema.Number),
    maxOutputTokens: Schema.optional(Schema.Number),
    candidateCount: Schema.optional(Schema.Number),
    stopSequences: Schema.optional(Schema.Array(Schema.String))
  }))
})

const decodeGeminiBody = decoderFor(GeminiBody)

/** What the path says of a Gemini request: `models/{model}:{method}`. */
export interface GeminiTarget {
  readonly model: string
  readonly stream: boolean
}

/**
 * `POST /v1beta/models/{model}:generateContent` (or `:streamGenerateContent`): a Gemini body, carried through the
 * pipeline in the canonical form, and kept as it came for a `gemini` provider.
 */
export const fromGeminiBody = (
  body: unknown,
  context: RequestContext,
  target: GeminiTarget
): Exit.Exit<ChatRequest, BadRequest> => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (!Array.isArray(body.contents) || body.contents.length === 0) {
    return badRequest("contents: required, a non-empty array of contents", "contents")
  }
  const checked = decodeGeminiBody(body)
  if (Exit.isFailure(checked)) return Exit.failCause(checked.cause)
  const model = pickModel(target.model, context)
  return Exit.succeed(
    chatRequest("gemini", fromGeminiRequest(body, model, target.stream), model, target.stream, context, body)
  )
}
