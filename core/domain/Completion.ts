/**
 * The answer as the pipeline keeps it: an OpenAI `chat.completion` object. Cached entries hold it serialised,
 * streamed answers are assembled into it, and every client format is rendered from it.
 */
export interface ToolCall {
  id: string
  type: string
  function: { name: string; arguments: string }
  /** A provider's own field on the call (Gemini's thought signature, as Google's OpenAI-compatible API carries it). */
  extra_content?: unknown
}

export interface ChoiceMessage {
  role: string
  content: string | null
  tool_calls?: Array<ToolCall>
  refusal?: string | null
  [key: string]: unknown
}

export interface Choice {
  index: number
  message: ChoiceMessage
  finish_reason: string | null
  logprobs?: unknown
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  [key: string]: unknown
}

export interface Completion {
  id: string
  object: "chat.completion"
  created: number
  model: string
  choices: Array<Choice>
  usage?: Usage
  system_fingerprint?: string | null
  [key: string]: unknown
}

/** A completion is worth caching only when it is whole: every choice finished. */
/**
 * Whether an upstream answer has the shape every renderer reads (an id, and a message object on every choice): one
 * that does not is an upstream failure, never an answer to render or cache.
 */
export const isWellFormed = (completion: unknown): completion is Completion => {
  const candidate = completion as Partial<Completion> | null | undefined
  return typeof candidate === "object" && candidate !== null && typeof candidate.id === "string" &&
    Array.isArray(candidate.choices) &&
    candidate.choices.every((choice) =>
      typeof choice === "object" && choice !== null && typeof choice.message === "object" && choice.message !== null
    )
}

export const isCacheable = (completion: Completion): boolean =>
  completion.object === "chat.completion" && Array.isArray(completion.choices) && completion.choices.length > 0 &&
  // A filtered answer (or a blocked prompt's empty one) is the provider's verdict of the moment, not an answer to keep.
  completion.choices.every((choice) =>
    typeof choice.finish_reason === "string" && choice.finish_reason !== "content_filter"
  )

/** The text a native `/api/chat` client gets: the first choice's content. */
export const firstText = (completion: Completion): string => completion.choices[0]?.message.content ?? ""

const encoder = new TextEncoder()
const sseData = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`

/**
 * Replays a whole completion as the `chat.completion.chunk` SSE stream an OpenAI client expects. With
 * `usageUpFront`, the first chunk carries the usage too, for a translation to an API that reports the input tokens
 * at the start (Anthropic's `message_start`). `withUsage: false` leaves out the final usage chunk (`choices: []`),
 * which an OpenAI client gets only when it asked (`stream_options.include_usage`).
 */
export const completionToSse = (
  completion: Completion,
  usageUpFront = false,
  withUsage = true
): ReadableStream<Uint8Array> => {
  const base = {
    id: completion.id,
    object: "chat.completion.chunk",
    created: completion.created,
    model: completion.model
  }
  const events: Array<string> = []
  for (const choice of completion.choices) {
    const { role, content, tool_calls, ...rest } = choice.message
    const first = { ...base, choices: [{ index: choice.index, delta: { role, content: "" }, finish_reason: null }] }
    events.push(
      sseData(usageUpFront && completion.usage && events.length === 0 ? { ...first, usage: completion.usage } : first)
    )
    const delta: Record<string, unknown> = { ...rest }
    if (content) delta.content = content
    if (tool_calls) delta.tool_calls = tool_calls.map((call, index) => ({ index, ...call }))
    if (Object.keys(delta).length > 0) {
      events.push(sseData({ ...base, choices: [{ index: choice.index, delta, finish_reason: null }] }))
    }
    events.push(
      sseData({ ...base, choices: [{ index: choice.index, delta: {}, finish_reason: choice.finish_reason }] })
    )
  }
  if (completion.usage && withUsage) events.push(sseData({ ...base, choices: [], usage: completion.usage }))
  events.push("data: [DONE]\n\n")
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(events.join("")))
      controller.close()
    }
  })
}

interface ChunkChoice {
  index?: number
  delta?: {
    role?: string
    content?: string | null
    reasoning_content?: string | null
    reasoning_signature?: string
    reasoning_redacted?: Array<string>
    refusal?: string | null
    tool_calls?: Array<{
      index?: number
      id?: string
      type?: string
      function?: { name?: string; arguments?: string }
      /** A provider's own field on the call (Gemini's thought signature): kept as it came. */
      extra_content?: unknown
    }>
  }
  finish_reason?: string | null
}

/** Folds `chat.completion.chunk` events back into the completion they spell out. */
export class CompletionAssembler {
  private readonly choices = new Map<number, Choice>()
  private head: { id: string; created: number; model: string; system_fingerprint?: string | null } | undefined
  private usage: Usage | undefined

  add(
    chunk: {
      id?: string
      created?: number
      model?: string
      system_fingerprint?: string | null
      choices?: Array<ChunkChoice>
      usage?: Usage | null
    }
  ) {
    this.head ??= { id: chunk.id ?? "", created: chunk.created ?? 0, model: chunk.model ?? "" }
    if (chunk.system_fingerprint !== undefined) this.head.system_fingerprint = chunk.system_fingerprint
    if (chunk.usage) this.usage = chunk.usage
    for (const part of chunk.choices ?? []) {
      const index = part.index ?? 0
      let choice = this.choices.get(index)
      if (!choice) {
        choice = { index, message: { role: "assistant", content: null }, finish_reason: null }
        this.choices.set(index, choice)
      }
      const delta = part.delta ?? {}
      if (delta.role) choice.message.role = delta.role
      if (typeof delta.content === "string") choice.message.content = (choice.message.content ?? "") + delta.content
      if (typeof delta.refusal === "string") choice.message.refusal = (choice.message.refusal ?? "") + delta.refusal
      const message = choice.message
      if (typeof delta.reasoning_content === "string") {
        message.reasoning_content = String(message.reasoning_content ?? "") + delta.reasoning_content
      }
      if (typeof delta.reasoning_signature === "string") {
        message.reasoning_signature = String(message.reasoning_signature ?? "") + delta.reasoning_signature
      }
      if (delta.reasoning_redacted) {
        message.reasoning_redacted = [
          ...(message.reasoning_redacted as Array<string> | undefined) ?? [],
          ...delta.reasoning_redacted
        ]
      }
      for (const call of delta.tool_calls ?? []) {
        const calls = (choice.message.tool_calls ??= [])
        const at = call.index ?? calls.length
        const existing = (calls[at] ??= { id: "", type: "function", function: { name: "", arguments: "" } })
        if (call.id) existing.id = call.id
        if (call.type) existing.type = call.type
        if (call.function?.name) existing.function.name += call.function.name
        if (call.function?.arguments) existing.function.arguments += call.function.arguments
        if (call.extra_content !== undefined) existing.extra_content = call.extra_content
      }
      if (part.finish_reason) choice.finish_reason = part.finish_reason
    }
  }

  result(): Completion | undefined {
    if (!this.head || this.choices.size === 0) return undefined
    const completion: Completion = {
      id: this.head.id,
      object: "chat.completion",
      created: this.head.created,
      model: this.head.model,
      choices: [...this.choices.values()].sort((a, b) => a.index - b.index)
    }
    if (this.head.system_fingerprint !== undefined) completion.system_fingerprint = this.head.system_fingerprint
    if (this.usage) completion.usage = this.usage
    return completion
  }
}
