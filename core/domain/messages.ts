/** The canonical chat message (OpenAI Chat Completions form) and what the layers read of it, defined once. */

export interface ChatMessage {
  readonly role: string
  readonly content?: unknown
  readonly name?: string | undefined
  readonly tool_call_id?: string | undefined
}

type Part = { readonly type?: unknown; readonly text?: unknown }

/** The text of a message's content: the string itself, or its text parts joined (other parts dropped). */
export const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part: Part) => (part.type === "text" && typeof part.text === "string" ? part.text : "")).join("")
    : ""

/** The text of a content that is only text; `undefined` when it has anything else (an image, a file) or none. */
export const plainTextOf = (content: unknown): string | undefined =>
  typeof content === "string"
    ? content
    : Array.isArray(content) && content.every((part: Part) => part.type === "text")
    ? textOf(content)
    : undefined

/** Whether a request offers the model tools, in the current (`tools`) or the legacy (`functions`) form. */
export const usesTools = (body: Readonly<Record<string, unknown>>): boolean =>
  (Array.isArray(body.tools) && body.tools.length > 0) || (body.functions !== undefined && body.functions !== null)
