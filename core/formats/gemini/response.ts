/** The pipeline's answer (an OpenAI `chat.completion`) as a Gemini `GenerateContentResponse`. */
import type { Completion, ToolCall, Usage } from "../../domain/Completion.ts"
import type { Json } from "../openai.ts"

/** OpenAI `finish_reason` → Gemini `finishReason`: a call to a function is a normal stop, as Gemini says it. */
export const FINISH_TO_GEMINI: Readonly<Record<string, string>> = {
  stop: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
  tool_calls: "STOP",
  function_call: "STOP"
}

export const finishToGemini = (reason: string | null | undefined) => FINISH_TO_GEMINI[reason ?? "stop"] ?? "STOP"

/** A tool call's arguments as the object Gemini's `args` is; text that is not a JSON object is kept under `_raw`. */
const argsOf = (text: string): unknown => {
  try {
    const value = text.trim() === "" ? {} : JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : { _raw: text }
  } catch {
    return { _raw: text }
  }
}

/** The thought signature Gemini put on a call (see `fromGeminiResponse`), which its client must send back. */
const signatureOf = (call: ToolCall): string | undefined => {
  const extra = (call.extra_content ?? {}) as { google?: { thought_signature?: unknown } }
  const signature = extra.google?.thought_signature
  return typeof signature === "string" ? signature : undefined
}

/** A function call as a Gemini part; the id only when it is Gemini's own (not one a translation made up). */
export const functionCallPart = (call: ToolCall): Json => {
  const signature = signatureOf(call)
  return {
    functionCall: { name: call.function.name, args: argsOf(call.function.arguments) },
    ...(signature !== undefined ? { thoughtSignature: signature } : {})
  }
}

/** A message's parts in Gemini's order: thoughts, text, function calls. */
const partsOf = (message: Completion["choices"][number]["message"]): Array<Json> => {
  const parts: Array<Json> = []
  if (typeof message.reasoning_content === "string" && message.reasoning_content !== "") {
    parts.push({ text: message.reasoning_content, thought: true })
  }
  if (message.content) {
    parts.push({
      text: message.content,
      ...(typeof message.reasoning_signature === "string" && message.reasoning_signature !== ""
        ? { thoughtSignature: message.reasoning_signature }
        : {})
    })
  }
  for (const call of message.tool_calls ?? []) parts.push(functionCallPart(call))
  // Gemini never answers a candidate without parts: an empty answer is one empty text.
  return parts.length > 0 ? parts : [{ text: "" }]
}

/** OpenAI usage in Gemini's terms: reasoning tokens are thoughts, counted apart from the answer's. */
export const usageMetadataOf = (usage: Usage): Json => {
  const details = (usage.completion_tokens_details ?? {}) as Json
  const prompt = (usage.prompt_tokens_details ?? {}) as Json
  const thoughts = Number(details.reasoning_tokens ?? 0)
  const cached = Number(prompt.cached_tokens ?? 0)
  return {
    promptTokenCount: usage.prompt_tokens,
    candidatesTokenCount: Math.max(0, usage.completion_tokens - thoughts),
    totalTokenCount: usage.total_tokens,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
    ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {})
  }
}

/** A whole completion as a `GenerateContentResponse`. */
export const toGeminiResponse = (completion: Completion): Json => ({
  candidates: completion.choices.map((choice) => ({
    content: { role: "model", parts: partsOf(choice.message) },
    finishReason: finishToGemini(choice.finish_reason),
    index: choice.index
  })),
  ...(completion.usage ? { usageMetadata: usageMetadataOf(completion.usage) } : {}),
  modelVersion: completion.model,
  ...(completion.id ? { responseId: completion.id } : {})
})

/** google.rpc.Code names by HTTP status, as Gemini puts them in `error.status`. */
const STATUS: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

/** An error as Google APIs say one: `{"error": {"code", "message", "status"}}`. */
export const geminiErrorBody = (status: number, message: string) => ({
  error: { code: status, message, status: STATUS[status] ?? (status >= 500 ? "UNAVAILABLE" : "FAILED_PRECONDITION") }
})
