import { Exit, Schema } from "effect"
import { badRequest, decoderFor, isObject } from "./ChatRequest.ts"
import type { BadRequest } from "./errors.ts"

/** OpenAI's embeddings body: text, texts, or token arrays; other fields (`dimensions`, `encoding_format`…) pass. */
const EmbeddingsBody = Schema.Struct({
  model: Schema.String,
  input: Schema.Union([
    Schema.String,
    Schema.Array(Schema.String),
    Schema.Array(Schema.Number),
    Schema.Array(Schema.Array(Schema.Number))
  ]).annotate({ expected: "a string, an array of strings, or token arrays" })
})

const decodeEmbeddingsBody = decoderFor(EmbeddingsBody)

/** `POST /v1/embeddings`: the body as sent, once `model` and `input` have their types. */
export const checkEmbeddingsBody = (body: unknown): Exit.Exit<Record<string, unknown>, BadRequest> => {
  if (!isObject(body)) return badRequest("request body must be a JSON object")
  if (typeof body.model !== "string" || body.model.trim() === "") {
    return badRequest("model: required, the embedding model (e.g. text-embedding-3-small)", "model")
  }
  if (body.input === undefined) return badRequest("input: required, a string or an array of strings", "input")
  const checked = decodeEmbeddingsBody(body)
  return Exit.isSuccess(checked) ? Exit.succeed(body) : Exit.failCause(checked.cause)
}
