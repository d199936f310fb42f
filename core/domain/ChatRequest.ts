import { Exit } from "effect"
import { type BadRequest, badRequest } from "./errors.ts"
import { isObject } from "./jsonBody.ts"
import type { ChatMessage } from "./messages.ts"
import type { ReceivedBody } from "./receivedBody.ts"
import { decodeNativeBody, decodeOpenAIBody } from "./requestSchemas.ts"
import type { RequestSpan } from "./RequestSpan.ts"
import { type EndpointFamily, sourceOf, type SourceRequest } from "./SourceRequest.ts"

export { badRequest } from "./errors.ts"
export { isObject, MAX_BODY_DEPTH, parseJsonBody } from "./jsonBody.ts"
export { decoderFor, otherKind, TextPart } from "./requestSchemas.ts"
export {
  ANSWER_HEADERS,
  answerHeaderScope,
  answerHeadersOfRequest,
  type EndpointFamily,
  type SourceRequest
} from "./SourceRequest.ts"

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

// The request decoders are plain synchronous functions returning an Exit (itself an Effect): they run on every
// request, and a chain of effect steps costs more here than the checks themselves.

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
  /** The body and the protocol headers, as received. */
  readonly received?:
    | { readonly body: ReceivedBody; readonly headers: Readonly<Record<string, string>> }
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
      ? sourceOf(family, context.received.body, original, context.received.headers)
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
