/**
 * OpenAI Chat Completions → Gemini `generateContent` and back, streams included: system instruction, roles
 * (assistant → model), images, function declarations, calls and responses, finish reasons and usage.
 */
import type { Completion, ToolCall } from "../domain/Completion.ts"
import { type Json, type OpenAIMessage, textOf } from "./openai.ts"

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const partsOf = (content: unknown): Array<Json> => {
  if (typeof content === "string") return content === "" ? [] : [{ text: content }]
  if (!Array.isArray(content)) return []
  return content.flatMap((part: Json): Array<Json> => {
    if (part.type === "text") return [{ text: String(part.text ?? "") }]
    if (part.type === "image_url") {
      const url = String((part.image_url as Json | undefined)?.url ?? "")
      const data = /^data:([^;]+);base64,(.*)$/s.exec(url)
      return [data ? { inlineData: { mimeType: data[1], data: data[2] } } : { fileData: { fileUri: url } }]
    }
    return []
  })
}

/** OpenAI messages → Gemini `contents`: roles renamed, consecutive turns of one role merged, tool results named. */
const geminiContents = (messages: ReadonlyArray<OpenAIMessage>) => {
  // Gemini names a function's result by the function, OpenAI by the call's id.
  const toolNames = new Map<string, string>()
  const contents: Array<{ role: string; parts: Array<Json> }> = []
  const append = (role: string, parts: Array<Json>) => {
    const last = contents[contents.length - 1]
    if (last && last.role === role) last.parts.push(...parts)
    else contents.push({ role, parts })
  }
  for (const message of messages) {
    if (message.role === "user") append("user", partsOf(message.content))
    else if (message.role === "assistant") {
      for (const call of message.tool_calls ?? []) toolNames.set(call.id, call.function.name)
      append("model", [
        ...partsOf(message.content),
        ...(message.tool_calls ?? []).map((call) => ({
          functionCall: { name: call.function.name, args: parseJson(call.function.arguments) }
        }))
      ])
    } else if (message.role === "tool" || message.role === "function") {
      const result = parseJson(textOf(message.content))
      append("user", [{
        functionResponse: {
          name: toolNames.get(message.tool_call_id ?? "") ?? message.tool_call_id ?? "",
          response: typeof result === "object" && result !== null && !Array.isArray(result)
            ? result
            : { content: result }
        }
      }])
    }
  }
  return contents
}

/** `tools` and `tool_choice` → Gemini's function declarations and function calling mode. */
const geminiTools = (body: Json): Json => {
  const tools = (body.tools as Array<{ function: Json }> | undefined)?.map((tool) => ({
    name: tool.function.name,
    ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
    ...(tool.function.parameters !== undefined ? { parameters: tool.function.parameters } : {})
  }))
  const choice = body.tool_choice
  const mode = choice === "required"
    ? "ANY"
    : choice === "none"
    ? "NONE"
    : typeof choice === "object" && choice !== null
    ? "ANY"
    : undefined
  const allowed = typeof choice === "object" && choice !== null ? [((choice as Json).function as Json).name] : undefined
  return {
    ...(tools && tools.length > 0 ? { tools: [{ functionDeclarations: tools }] } : {}),
    ...(mode
      ? { toolConfig: { functionCallingConfig: { mode, ...(allowed ? { allowedFunctionNames: allowed } : {}) } } }
      : {})
  }
}

/** The sampling parameters → Gemini's `generationConfig`, holding only those the request set. */
const generationConfigOf = (body: Json): Json => {
  const stop = body.stop === undefined || body.stop === null
    ? undefined
    : Array.isArray(body.stop)
    ? body.stop
    : [body.stop]
  const format = (body.response_format as Json | undefined)?.type
  return {
    ...(typeof body.temperature === "number" ? { temperature: body.temperature } : {}),
    ...(typeof body.top_p === "number" ? { topP: body.top_p } : {}),
    ...(typeof (body.max_completion_tokens ?? body.max_tokens) === "number"
      ? { maxOutputTokens: body.max_completion_tokens ?? body.max_tokens }
      : {}),
    ...(stop ? { stopSequences: stop } : {}),
    ...(typeof body.n === "number" ? { candidateCount: body.n } : {}),
    ...(typeof body.seed === "number" ? { seed: body.seed } : {}),
    ...(format === "json_object" || format === "json_schema" ? { responseMimeType: "application/json" } : {})
  }
}

/** A Chat Completions request body → a Gemini `generateContent` request body. */
export const toGeminiRequest = (body: Json): Json => {
  const messages = (body.messages as Array<OpenAIMessage>) ?? []
  const system = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => textOf(m.content))
  const generationConfig = generationConfigOf(body)
  return {
    contents: geminiContents(messages),
    ...(system.length > 0 ? { systemInstruction: { parts: [{ text: system.join("\n\n") }] } } : {}),
    ...geminiTools(body),
    ...(Object.keys(generationConfig).length > 0 ? { generationConfig } : {})
  }
}

/** Not Gemini's: the finish of the empty candidate that stands for a prompt Gemini blocked, whatever its reason. */
const PROMPT_BLOCKED = "isartor:PROMPT_BLOCKED"

const finishFromGemini = (reason: unknown, hasCalls: boolean): string | null => {
  if (reason === undefined || reason === null) return null
  if (reason === "MAX_TOKENS") return "length"
  if (
    ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", PROMPT_BLOCKED].includes(
      String(reason)
    )
  ) {
    return "content_filter"
  }
  return hasCalls ? "tool_calls" : "stop"
}

/**
 * A candidate's function calls. A thought signature on one goes with it, where Google's OpenAI-compatible API puts it
 * (`extra_content.google.thought_signature`): a Gemini client must send it back with the call.
 */
const callsOf = (parts: Array<Json>, candidate: number, offset = 0): Array<ToolCall> =>
  parts.filter((part) => part.functionCall).map((part, n) => {
    const call = part.functionCall as Json
    return {
      id: typeof call.id === "string" && call.id !== "" ? call.id : `call_${candidate}_${offset + n}`,
      type: "function",
      function: { name: String(call.name), arguments: JSON.stringify(call.args ?? {}) },
      ...(typeof part.thoughtSignature === "string"
        ? { extra_content: { google: { thought_signature: part.thoughtSignature } } }
        : {})
    }
  })

/** What a candidate's parts say: its answer, its thoughts (`thought: true`), and the signature of the thinking. */
const spokenOf = (parts: Array<Json>) => {
  const texts = parts.filter((part) => typeof part.text === "string")
  const signed = parts.find((part) => !part.functionCall && typeof part.thoughtSignature === "string")
  return {
    text: texts.filter((part) => part.thought !== true).map((part) => String(part.text)).join(""),
    reasoning: texts.filter((part) => part.thought === true).map((part) => String(part.text)).join(""),
    signature: signed === undefined ? undefined : String(signed.thoughtSignature)
  }
}

const reasoningFields = ({ reasoning, signature }: ReturnType<typeof spokenOf>) => ({
  ...(reasoning !== "" ? { reasoning_content: reasoning } : {}),
  ...(signature !== undefined ? { reasoning_signature: signature } : {})
})

/** Gemini's usage in OpenAI's terms: a thinking model's thoughts are output, counted as reasoning tokens. */
const usageOf = (response: Json) => {
  const usage = (response.usageMetadata as Json | undefined) ?? {}
  const prompt = Number(usage.promptTokenCount ?? 0)
  const thoughts = Number(usage.thoughtsTokenCount ?? 0)
  const cached = Number(usage.cachedContentTokenCount ?? 0)
  const completion = Number(usage.candidatesTokenCount ?? 0) + thoughts
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Number(usage.totalTokenCount ?? prompt + completion),
    ...(cached > 0 ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
    ...(thoughts > 0 ? { completion_tokens_details: { reasoning_tokens: thoughts } } : {})
  }
}

/**
 * A response's candidates; a prompt Gemini blocked (`promptFeedback.blockReason`) has none, and becomes one empty
 * candidate finished as filtered: an OpenAI client reads `choices[0]` whatever happened.
 */
const candidatesOf = (response: Json): Array<Json> => {
  const candidates = (response.candidates as Array<Json> | undefined) ?? []
  if (candidates.length > 0) return candidates
  return [{ index: 0, content: { parts: [{ text: "" }] }, finishReason: PROMPT_BLOCKED }]
}

export const fromGeminiResponse = (response: Json, model: string): Completion => ({
  id: String(response.responseId ?? `gemini-${Date.now().toString(36)}`),
  object: "chat.completion",
  created: Math.floor(Date.now() / 1000),
  model: String(response.modelVersion ?? model),
  choices: candidatesOf(response).map((candidate, position) => {
    const index = Number(candidate.index ?? position)
    const parts = ((candidate.content as Json | undefined)?.parts as Array<Json> | undefined) ?? []
    const spoken = spokenOf(parts)
    const text = spoken.text
    const calls = callsOf(parts, index)
    return {
      index,
      message: {
        role: "assistant",
        content: text === "" && calls.length > 0 ? null : text,
        ...reasoningFields(spoken),
        ...(calls.length > 0 ? { tool_calls: calls } : {})
      },
      finish_reason: finishFromGemini(candidate.finishReason, calls.length > 0) ?? "stop"
    }
  }),
  usage: usageOf(response)
})

/** Gemini's SSE stream (one `GenerateContentResponse` per event) → OpenAI chunks. */
export const geminiStreamToOpenAI = (model: string, includeUsage: boolean) => {
  const head = { id: `gemini-${Date.now().toString(36)}`, created: Math.floor(Date.now() / 1000), model }
  const started = new Set<number>()
  const callCount = new Map<number, number>()
  let usage: ReturnType<typeof usageOf> | undefined
  const chunk = (index: number, delta: Json, finish: string | null = null) => ({
    id: head.id,
    object: "chat.completion.chunk",
    created: head.created,
    model: head.model,
    choices: [{ index, delta, finish_reason: finish }]
  })
  return {
    onEvent(data: string): Array<unknown> {
      const response = JSON.parse(data) as Json
      if (response.error) {
        return [{
          error: { message: String((response.error as Json).message ?? "upstream error"), type: "upstream_error" }
        }]
      }
      if (typeof response.responseId === "string") head.id = response.responseId
      if (typeof response.modelVersion === "string") head.model = response.modelVersion
      if (response.usageMetadata) usage = usageOf(response)
      const out: Array<unknown> = []
      for (const [position, candidate] of ((response.candidates as Array<Json> | undefined) ?? []).entries()) {
        const index = Number(candidate.index ?? position)
        if (!started.has(index)) {
          started.add(index)
          out.push(chunk(index, { role: "assistant", content: "" }))
        }
        const parts = ((candidate.content as Json | undefined)?.parts as Array<Json> | undefined) ?? []
        const spoken = spokenOf(parts)
        const reasoning = reasoningFields(spoken)
        if (Object.keys(reasoning).length > 0) out.push(chunk(index, reasoning))
        if (spoken.text !== "") out.push(chunk(index, { content: spoken.text }))
        const before = callCount.get(index) ?? 0
        const calls = callsOf(parts, index, before)
        callCount.set(index, before + calls.length)
        if (calls.length > 0) {
          out.push(chunk(index, { tool_calls: calls.map((call, n) => ({ index: before + n, ...call })) }))
        }
        const finish = finishFromGemini(candidate.finishReason, (callCount.get(index) ?? 0) > 0)
        if (finish) out.push(chunk(index, {}, finish))
      }
      return out
    },
    onEnd(): Array<unknown> {
      return includeUsage && usage ? [{ ...chunk(0, {}), choices: [], usage }] : []
    }
  }
}
