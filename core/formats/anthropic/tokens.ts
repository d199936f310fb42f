/** A token estimate of an Anthropic Messages body, for `count_tokens` when the upstream cannot count for us. */
import { estimateTokens, tokenizer } from "../../domain/usageEstimate.ts"

const COUNTED_CHARS = 100_000

/**
 * What an image costs in Claude's count, at most (Anthropic's docs: width × height / 750, images scaled to fit about
 * 1.15 megapixels): its size is not read here, so each counts as the largest.
 */
const IMAGE_TOKENS = 1600

/** The images of a content, a tool result's included (Anthropic `image` blocks, OpenAI `image_url` parts). */
const imagesOf = (content: unknown): number =>
  Array.isArray(content)
    ? content.reduce((sum: number, block: { type?: unknown; content?: unknown }) =>
      sum + (block?.type === "image" || block?.type === "image_url" ? 1 : imagesOf(block?.content)), 0)
    : 0

/** The text a model reads of a block: its text, a tool's input or result, or nothing (images are counted apart). */
const textOfBlock = (block: unknown): string => {
  if (typeof block === "string") return block
  if (typeof block !== "object" || block === null) return ""
  const { type, text, input, content, name } = block as Record<string, unknown>
  if (type === "text" || type === "thinking") return typeof text === "string" ? text : ""
  if (type === "tool_use") return `${String(name ?? "")} ${JSON.stringify(input ?? {})}`
  if (type === "tool_result") return Array.isArray(content) ? content.map(textOfBlock).join("\n") : textOfBlock(content)
  return ""
}

const textOfContent = (content: unknown) =>
  Array.isArray(content) ? content.map(textOfBlock).join("\n") : textOfBlock(content)

/**
 * Counts the system prompt, every turn and the tool definitions with the o200k_base tokenizer (`gpt-tokenizer`,
 * loaded on first use) plus a few tokens per turn for its framing, and each image at its largest cost. Claude's own tokenizer is not published: this is
 * an estimate, and the route says so.
 */
export const estimateInputTokens = async (body: Readonly<Record<string, unknown>>): Promise<number> => {
  await tokenizer()
  const messages = Array.isArray(body.messages) ? (body.messages as Array<{ content?: unknown }>) : []
  const parts = [
    textOfContent(body.system),
    ...messages.map((message) => textOfContent(message.content)),
    Array.isArray(body.tools) && body.tools.length > 0 ? JSON.stringify(body.tools) : ""
  ]
  const FRAMING_PER_TURN = 4
  // Tokenising is linear but not free: the parts are counted up to `COUNTED_CHARS`, a budget of time on the
  // request's thread, and the rest of the body is extrapolated at the same rate, so no body holds up the gateway.
  const text = parts.filter((part) => part !== "").join("\n")
  const counted = estimateTokens(text.slice(0, COUNTED_CHARS))
  const scale = text.length <= COUNTED_CHARS ? 1 : text.length / COUNTED_CHARS
  const images = messages.reduce((sum, message) => sum + imagesOf(message.content), 0)
  return Math.round(counted * scale) +
    FRAMING_PER_TURN * messages.length + IMAGE_TOKENS * images
}
