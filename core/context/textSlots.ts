/**
 * Where a request body holds the text a model reads as conversation, in order, per wire format — and which of it
 * the provider's prompt cache keys on, so it must reach the provider byte for byte ("frozen"):
 *
 * - the stable prefix every turn of a conversation repeats: tools, Anthropic's `system`, Gemini's
 *   `systemInstruction`, Responses' `instructions`, and the leading run of system/developer messages (OpenAI's
 *   automatic prompt caching keys on the longest prefix it has seen, and that is where it begins);
 * - everything at or before the last `cache_control` breakpoint (Anthropic, and OpenAI-format gateways that take
 *   it): the cache entry written there is keyed on those exact bytes.
 */

export type WireFormat = "openai" | "anthropic" | "responses" | "gemini"

export interface TextSlot {
  /** The path from the body to the string. */
  readonly path: ReadonlyArray<string | number>
  readonly text: string
  readonly frozen: boolean
}

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** Collects a body's slots in reading order; `breakpoint()` marks that everything so far is cached upstream. */
class Collector {
  readonly slots: Array<{ path: ReadonlyArray<string | number>; text: string; prefix: boolean }> = []
  private cachedThrough = -1

  add(path: ReadonlyArray<string | number>, text: unknown, prefix = false) {
    if (typeof text === "string") this.slots.push({ path, text, prefix })
  }

  breakpoint() {
    this.cachedThrough = this.slots.length - 1
  }

  /** A part carrying `cache_control` ends a cached prefix with itself. */
  marked(part: unknown) {
    if (isObject(part) && part.cache_control !== undefined && part.cache_control !== null) this.breakpoint()
  }

  done(): ReadonlyArray<TextSlot> {
    return this.slots.map((slot, index) => ({
      path: slot.path,
      text: slot.text,
      frozen: slot.prefix || index <= this.cachedThrough
    }))
  }
}

const TEXT_PARTS = new Set(["text", "input_text", "output_text"])

/** A string or a list of parts: the text parts' strings; a tool result's nested content too (it carries reminders). */
const addContent = (into: Collector, path: ReadonlyArray<string | number>, content: unknown, prefix: boolean) => {
  if (typeof content === "string") return into.add(path, content, prefix)
  if (!Array.isArray(content)) return
  content.forEach((part, index) => {
    if (!isObject(part)) return
    if (TEXT_PARTS.has(String(part.type))) into.add([...path, index, "text"], part.text, prefix)
    else if (part.type === "tool_result") addContent(into, [...path, index, "content"], part.content, prefix)
    into.marked(part)
  })
}

/** Messages (Chat Completions, Anthropic) or input items (Responses): the leading system/developer run is prefix. */
const addMessages = (into: Collector, field: string, messages: unknown) => {
  if (!Array.isArray(messages)) return
  let leading = true
  messages.forEach((message, index) => {
    if (!isObject(message)) return
    leading &&= message.role === "system" || message.role === "developer"
    if (message.type === "function_call_output") into.add([field, index, "output"], message.output)
    else addContent(into, [field, index, "content"], message.content, leading)
    into.marked(message)
  })
}

/** The conversation text of a body in `format`, in order, each slot saying whether it must stay as it is. */
export const textSlots = (format: WireFormat, body: Json): ReadonlyArray<TextSlot> => {
  const into = new Collector()
  if (format === "anthropic") {
    addContent(into, ["system"], body.system, true)
    // A breakpoint on the tools or the system prompt caches no more than the prefix already kept.
    addMessages(into, "messages", body.messages)
  } else if (format === "openai") {
    addMessages(into, "messages", body.messages)
  } else if (format === "responses") {
    if (typeof body.input === "string") into.add(["input"], body.input)
    else addMessages(into, "input", body.input)
  } else {
    const system = body.systemInstruction
    if (isObject(system) && Array.isArray(system.parts)) {
      system.parts.forEach((part, index) => into.add(["systemInstruction", "parts", index, "text"], textOf(part), true))
    }
    if (Array.isArray(body.contents)) {
      body.contents.forEach((content, at) => {
        if (!isObject(content) || !Array.isArray(content.parts)) return
        content.parts.forEach((part, index) => into.add(["contents", at, "parts", index, "text"], textOf(part)))
      })
    }
  }
  return into.done()
}

/** A Gemini part's text, unless it is a thought (signed: sent back as it came). */
const textOf = (part: unknown) => isObject(part) && part.thought !== true ? part.text : undefined

/** `body` with the strings at `changes`' paths replaced, copying only the objects on those paths. */
export const withTexts = (
  body: Json,
  changes: ReadonlyArray<{ readonly path: ReadonlyArray<string | number>; readonly text: string }>
): Json => {
  const copy = { ...body }
  for (const { path, text } of changes) {
    let node: Record<string | number, unknown> = copy
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i]!
      const child = node[key]
      const cloned = Array.isArray(child) ? [...child] : { ...(child as Json) }
      node[key] = cloned
      node = cloned as Record<string | number, unknown>
    }
    node[path[path.length - 1]!] = text
  }
  return copy
}
