/**
 * A Gemini `GenerateContentRequest` (what Gemini clients send to `…:generateContent`) → the canonical OpenAI Chat
 * Completions body the pipeline keys, routes and sends to a provider of another API. A `gemini` provider never sees
 * this: it gets the client's own bytes.
 */
import type { Json } from "../openai.ts"

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const partsOf = (content: unknown): ReadonlyArray<Json> =>
  isObject(content) && Array.isArray(content.parts) ? content.parts.filter(isObject) : []

/** A Gemini file or inline blob as an OpenAI content part: images as `image_url`, anything else as a `file`. */
const mediaPart = (part: Json): Json | undefined => {
  if (isObject(part.inlineData)) {
    const { data, mimeType } = part.inlineData
    const url = `data:${String(mimeType)};base64,${String(data)}`
    return String(mimeType).startsWith("image/")
      ? { type: "image_url", image_url: { url } }
      : { type: "file", file: { file_data: url } }
  }
  if (isObject(part.fileData)) return { type: "image_url", image_url: { url: String(part.fileData.fileUri) } }
  return undefined
}

/** The text a part says: its text, or the code it ran and what that printed (code execution). */
const spokenText = (part: Json): string | undefined =>
  typeof part.text === "string" && part.thought !== true
    ? part.text
    : isObject(part.executableCode)
    ? `\`\`\`${String(part.executableCode.language ?? "").toLowerCase()}\n${String(part.executableCode.code)}\n\`\`\``
    : isObject(part.codeExecutionResult)
    ? String(part.codeExecutionResult.output ?? "")
    : undefined

/** A user turn's parts as OpenAI content: one string when it is all text, else parts. */
const userContent = (parts: ReadonlyArray<Json>): string | Array<Json> => {
  const out: Array<Json> = []
  for (const part of parts) {
    const text = spokenText(part)
    if (text !== undefined) out.push({ type: "text", text })
    else {
      const media = mediaPart(part)
      if (media !== undefined) out.push(media)
    }
  }
  return out.every((part) => part.type === "text") ? out.map((part) => String(part.text)).join("") : out
}

/** Which call a `functionResponse` answers: Gemini names it by id when it has one, else by the function's name. */
class CallIds {
  private readonly open: Array<{ readonly id: string; readonly name: string }> = []
  private count = 0
  issue(call: Json): string {
    const id = typeof call.id === "string" && call.id !== "" ? call.id : `call_${this.count}`
    this.count++
    this.open.push({ id, name: String(call.name) })
    return id
  }
  answer(response: Json): string {
    const byId = typeof response.id === "string" ? this.open.findIndex((call) => call.id === response.id) : -1
    const at = byId >= 0 ? byId : this.open.findIndex((call) => call.name === String(response.name))
    if (at < 0) return typeof response.id === "string" ? response.id : `call_${String(response.name)}`
    return this.open.splice(at, 1)[0]!.id
  }
}

/** A model turn: its text, its thoughts (as reasoning, with their signature) and its function calls. */
const assistantMessage = (parts: ReadonlyArray<Json>, ids: CallIds): Json => {
  const text = parts.map(spokenText).filter((t) => t !== undefined).join("")
  const thoughts = parts.filter((part) => part.thought === true && typeof part.text === "string")
  const signature = parts.find((part) => part.functionCall === undefined && typeof part.thoughtSignature === "string")
  const calls = parts.filter((part) => isObject(part.functionCall)).map((part) => {
    const call = part.functionCall as Json
    return {
      id: ids.issue(call),
      type: "function",
      function: { name: String(call.name), arguments: JSON.stringify(call.args ?? {}) },
      ...(typeof part.thoughtSignature === "string"
        ? { extra_content: { google: { thought_signature: part.thoughtSignature } } }
        : {})
    }
  })
  return {
    role: "assistant",
    content: text === "" && calls.length > 0 ? null : text,
    ...(thoughts.length > 0 ? { reasoning_content: thoughts.map((part) => String(part.text)).join("") } : {}),
    ...(signature !== undefined ? { reasoning_signature: signature.thoughtSignature } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {})
  }
}

/** A function's result as the text a tool message holds: Gemini's `{"output": …}` or `{"content": …}` unwrapped. */
const resultText = (response: unknown): string => {
  const inner = isObject(response) && Object.keys(response).length === 1
    ? response.output ?? response.content ?? response.result
    : undefined
  const value = inner ?? response
  return typeof value === "string" ? value : JSON.stringify(value ?? {})
}

/** `contents` → OpenAI messages: model turns are the assistant's, function responses become tool messages. */
const messagesOf = (contents: ReadonlyArray<unknown>): Array<Json> => {
  const ids = new CallIds()
  const messages: Array<Json> = []
  for (const content of contents) {
    const parts = partsOf(content)
    if (isObject(content) && content.role === "model") {
      messages.push(assistantMessage(parts, ids))
      continue
    }
    for (const part of parts) {
      if (!isObject(part.functionResponse)) continue
      const response = part.functionResponse
      messages.push({ role: "tool", tool_call_id: ids.answer(response), content: resultText(response.response) })
    }
    const rest = parts.filter((part) => !isObject(part.functionResponse))
    if (rest.length > 0 || parts.length === 0) messages.push({ role: "user", content: userContent(rest) })
  }
  return messages
}

/** The system instruction's text: a `Content`, or (as some clients send it) a bare string. */
export const systemText = (instruction: unknown): string | undefined =>
  typeof instruction === "string"
    ? instruction
    : isObject(instruction)
    ? partsOf(instruction).map((part) => String(part.text ?? "")).join("")
    : undefined

/** Gemini's OpenAPI schema (`"type": "OBJECT"`, as the SDK's `Type` enum writes it) as JSON Schema. */
export const jsonSchemaOf = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(jsonSchemaOf)
  if (!isObject(schema)) return schema
  const out: Json = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === "type" && typeof value === "string") out.type = value.toLowerCase()
    else if (key === "nullable" || key === "propertyOrdering") continue
    else if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, jsonSchemaOf(inner)]))
    } else out[key] = jsonSchemaOf(value)
  }
  if (schema.nullable === true && typeof out.type === "string") out.type = [out.type, "null"]
  return out
}

/** Function declarations → OpenAI function tools; Gemini's own tools (search, code execution) have no counterpart. */
const toolsOf = (tools: unknown): Array<Json> => {
  if (!Array.isArray(tools)) return []
  return tools.filter(isObject).flatMap((tool) =>
    (Array.isArray(tool.functionDeclarations) ? tool.functionDeclarations.filter(isObject) : []).map((declaration) => {
      const parameters = declaration.parametersJsonSchema ?? jsonSchemaOf(declaration.parameters)
      return {
        type: "function",
        function: {
          name: String(declaration.name),
          ...(declaration.description !== undefined ? { description: declaration.description } : {}),
          parameters: parameters ?? { type: "object", properties: {} }
        }
      }
    })
  )
}

/** `toolConfig.functionCallingConfig` → `tool_choice`: ANY with one allowed function names it. */
const toolChoiceOf = (toolConfig: unknown): unknown => {
  const config = isObject(toolConfig) && isObject(toolConfig.functionCallingConfig)
    ? toolConfig.functionCallingConfig
    : undefined
  if (config === undefined) return undefined
  const allowed = Array.isArray(config.allowedFunctionNames) ? config.allowedFunctionNames : []
  if (config.mode === "NONE") return "none"
  if (config.mode === "ANY") {
    return allowed.length === 1 ? { type: "function", function: { name: String(allowed[0]) } } : "required"
  }
  return config.mode === "AUTO" || config.mode === "VALIDATED" ? "auto" : undefined
}

/** Structured output: `responseJsonSchema` (JSON Schema) or `responseSchema` (Gemini's), else JSON mode. */
const responseFormatOf = (config: Json): Json | undefined => {
  const schema = config.responseJsonSchema ?? (config.responseSchema === undefined
    ? undefined
    : jsonSchemaOf(config.responseSchema))
  if (schema !== undefined) return { type: "json_schema", json_schema: { name: "response", schema } }
  return config.responseMimeType === "application/json" ? { type: "json_object" } : undefined
}

/** `generationConfig` → the sampling fields of a Chat Completions body, only those set. */
const generationOf = (config: unknown): Json => {
  if (!isObject(config)) return {}
  const fields: Json = {
    temperature: config.temperature,
    top_p: config.topP,
    max_tokens: config.maxOutputTokens,
    stop: config.stopSequences,
    n: config.candidateCount,
    seed: config.seed,
    presence_penalty: config.presencePenalty,
    frequency_penalty: config.frequencyPenalty,
    logprobs: config.responseLogprobs,
    top_logprobs: config.logprobs,
    response_format: responseFormatOf(config)
  }
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== null))
}

/** A Gemini request body → the canonical Chat Completions body, with the model the path named. */
export const fromGeminiRequest = (body: Json, model: string, stream: boolean): Json => {
  const system = systemText(body.systemInstruction ?? body.system_instruction)
  const tools = toolsOf(body.tools)
  const toolChoice = toolChoiceOf(body.toolConfig)
  return {
    model,
    messages: [
      ...(system !== undefined && system !== "" ? [{ role: "system", content: system }] : []),
      ...messagesOf(Array.isArray(body.contents) ? body.contents : [])
    ],
    ...(tools.length > 0 ? { tools } : {}),
    ...(toolChoice !== undefined && tools.length > 0 ? { tool_choice: toolChoice } : {}),
    ...generationOf(body.generationConfig),
    // A Gemini stream ends with its usage: the canonical stream is asked for it.
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
  }
}
