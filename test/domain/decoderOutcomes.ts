// What each request decoder makes of a body, as plain data two threads can compare: the decoders' answers with
// their schemas compiled (the gateway's) and interpreted (decoderJit.worker.ts) must be the same.
import { Exit } from "effect"
import type { RequestContext } from "../../core/domain/ChatRequest.ts"

export type DecoderKind = "openai" | "anthropic" | "native" | "gemini" | "responses" | "embeddings"

const context: RequestContext = { defaultModel: "default-model", tenant: "t|", cacheRead: true, cacheWrite: true }

/** The decoders, imported when asked: the worker must switch compiling off before their schemas are built. */
export const loadDecoders = async () => {
  const { fromOpenAIBody, fromNativeBody } = await import("../../core/domain/ChatRequest.ts")
  const { fromAnthropicBody } = await import("../../core/formats/anthropic/messagesBody.ts")
  const { fromGeminiBody } = await import("../../core/formats/gemini/body.ts")
  const { checkResponsesBody } = await import("../../core/domain/ResponsesRequest.ts")
  const { checkEmbeddingsBody } = await import("../../core/domain/EmbeddingsRequest.ts")
  const chat = (exit: ReturnType<typeof fromOpenAIBody>) =>
    Exit.map(exit, (request) => ({ body: request.body, model: request.model, stream: request.stream }))
  const decoders: Record<DecoderKind, (body: unknown) => Exit.Exit<unknown, { readonly message: string }>> = {
    openai: (body) => chat(fromOpenAIBody(body, context)),
    anthropic: (body) => chat(fromAnthropicBody(body, context)),
    native: (body) => chat(fromNativeBody(body, context)),
    gemini: (body) => chat(fromGeminiBody(body, context, { model: "gemini-2.5-flash", stream: false })),
    responses: checkResponsesBody,
    embeddings: checkEmbeddingsBody
  }
  /** `ok` and the value as JSON, or the message a client would be sent. */
  return (kind: DecoderKind, body: unknown): string => {
    const exit = decoders[kind](body)
    if (Exit.isSuccess(exit)) return `ok ${JSON.stringify(exit.value)}`
    const error = Exit.findErrorOption(exit)
    return error._tag === "Some" ? `refused ${error.value.message}` : "refused (no error)"
  }
}
