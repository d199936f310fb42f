import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { answerHeadersOfRequest } from "../../domain/ChatRequest.ts"
import { plainTextOf, usesTools } from "../../domain/messages.ts"
import { withoutDelivery } from "../CacheKey.ts"
import { MAX_VERIFIED_CHARS } from "./SemanticVerifier.ts"

/** An effort that asks for no reasoning at all, in OpenAI's and Anthropic's words. */
const NO_REASONING = new Set(["none", "disabled"])

const asks = (value: unknown) =>
  value !== undefined && value !== null && value !== false && !(typeof value === "string" && NO_REASONING.has(value))

/**
 * Whether a request asks the model to think: OpenAI's `reasoning_effort` (Anthropic's `thinking` and the Responses
 * API's `reasoning.effort` become it), and the client's own `thinking`, `reasoning` or Gemini `thinkingConfig`
 * when it came in that form. Its answer carries thinking — signed, for Anthropic and Gemini — written for that
 * prompt; served for a paraphrase, the thinking would be replayed for a question it was not about.
 */
const thinks = (request: ChatRequest): boolean => {
  if (asks(request.body.reasoning_effort)) return true
  const source = request.source?.body
  if (source === undefined) return false
  const thinking = source.thinking as { readonly type?: unknown } | undefined
  if (thinking !== undefined && thinking !== null && asks(thinking.type ?? true)) return true
  const reasoning = source.reasoning as { readonly effort?: unknown } | undefined
  if (reasoning !== undefined && reasoning !== null && asks(reasoning.effort ?? true)) return true
  const generation = source.generationConfig as { readonly thinkingConfig?: { readonly thinkingBudget?: unknown } }
  const gemini = generation?.thinkingConfig
  return gemini !== undefined && gemini !== null && gemini.thinkingBudget !== 0
}

/**
 * What L1b needs of a request: the last user message (what is embedded) and the scope that must match exactly
 * before similarity is considered — tenant, endpoint family, model, system prompt, earlier turns, every other
 * generation parameter and the headers that change an answer (`ANSWER_HEADERS`). A request with tools or thinking, or whose last message is not plain user text, is not eligible.
 */
export const semanticView = (
  request: ChatRequest,
  digest: (value: unknown) => string
): { text: string; scope: string } | string => {
  const { messages, tools: _tools, functions: _functions, ...parameters } = withoutDelivery(request.body)
  if (usesTools(request.body)) return "requests with tools use the exact cache only"
  if (thinks(request)) return "requests with thinking use the exact cache only"
  const last = request.messages[request.messages.length - 1]
  if (last?.role !== "user") return "the last message is not from the user"
  const text = plainTextOf(last.content)
  if (text === undefined || text.trim() === "") return "the last message is not plain text"
  // The verifier accepts nothing longer, so such a question is neither embedded nor stored: L1a alone serves it.
  if (text.length > MAX_VERIFIED_CHARS) return `the last message is longer than ${MAX_VERIFIED_CHARS} characters`
  const system = request.messages.filter((m) => m.role === "system" || m.role === "developer")
  const earlier = request.messages.slice(0, -1).filter((m) => m.role !== "system" && m.role !== "developer")
  const scope = [request.tenant, request.family, request.model, digest(system), digest(earlier), digest(parameters)]
  // The headers that change an answer, as in the exact key; none sent, the scope is what it always was.
  const headers = answerHeadersOfRequest(request)
  if (headers !== undefined) scope.push(digest(headers))
  return { text, scope: scope.join("|") }
}
