import type { Completion, Usage } from "./Completion.ts"
import { type ChatMessage, textOf } from "./messages.ts"

/** The o200k_base tokenizer (`gpt-tokenizer`), loaded on first use: exact for OpenAI's current models, an estimate for others. */
export type Tokenizer = typeof import("gpt-tokenizer/encoding/o200k_base")

let loading: Promise<Tokenizer> | undefined
let loaded: Tokenizer | undefined

/** The one loader of the tokenizer: every estimate in the gateway counts with it. */
export const tokenizer = (): Promise<Tokenizer> =>
  loading ??= import("gpt-tokenizer/encoding/o200k_base").then((module) => (loaded = module))

// Text may quote "<|endoftext|>" and the like: counted as the text it is, never refused.
const asText = { disallowedSpecial: new Set<string>() }

/**
 * The gateway's one token estimate of a text: o200k_base once the tokenizer is loaded (the first call starts loading
 * it), four characters a token until then. Callers that can wait (`count_tokens`) await `tokenizer()` first.
 */
export const estimateTokens = (text: string): number => {
  if (loaded === undefined) {
    void tokenizer().catch(() => undefined)
    return byLength(text)
  }
  if (text.length <= COUNTED_CHARS) return counted(loaded, text)
  // Past COUNTED_CHARS, the rest is taken to run as its beginning does: an estimate whose cost has a ceiling.
  return Math.ceil(counted(loaded, text.slice(0, COUNTED_CHARS)) * text.length / COUNTED_CHARS)
}

const byLength = (text: string) => Math.ceil(text.length / 4)

/**
 * o200k's merges take time that grows with the square of an unbroken run, and the text comes from any client's body
 * or upstream's answer, counted on the request thread: runs past LONG_RUN are counted by their length instead, and at
 * most COUNTED_CHARS of a text are counted.
 */
const LONG_RUN = /\S{64,}/g
const COUNTED_CHARS = 256 * 1024

const counted = (tokenizer: Tokenizer, text: string): number => {
  let long = 0
  const rest = text.replace(LONG_RUN, (run) => {
    long += byLength(run)
    return " "
  })
  return tokenizer.countTokens(rest, asText) + long
}

/** Per message, the tokens of its framing (role, separators), as OpenAI counts chat prompts. */
const FRAMING_PER_MESSAGE = 4

/** What an estimate reads of a request: its messages and the tools it offers (their definitions are prompt too). */
export interface EstimatedPrompt {
  readonly messages: ReadonlyArray<ChatMessage>
  readonly tools?: unknown
}

/** Marks a usage the gateway estimated: metrics and the usage ledger never take it for a provider's figures. */
export const ESTIMATED = "isartor_estimated"

/** An estimate of a completion's usage from the request it answered and the text it answered with. */
export const estimatedUsage = (completion: Completion, prompt: EstimatedPrompt): Usage => {
  const tools = Array.isArray(prompt.tools) && prompt.tools.length > 0
    ? estimateTokens(JSON.stringify(prompt.tools))
    : 0
  const asked = prompt.messages.reduce(
    (sum, message) => sum + estimateTokens(textOf(message.content)) + FRAMING_PER_MESSAGE,
    tools
  )
  const answered = completion.choices.reduce((sum, choice) => {
    const calls = choice.message.tool_calls?.map((call) => call.function.name + call.function.arguments).join("") ?? ""
    return sum + estimateTokens((choice.message.content ?? "") + calls)
  }, 0)
  return { prompt_tokens: asked, completion_tokens: answered, total_tokens: asked + answered, [ESTIMATED]: true }
}

/**
 * A streamed answer as the caches keep it: with its usage. A client that did not ask for the usage chunk
 * (`stream_options.include_usage`) got a stream without one, and a replay to a client that asks must still end
 * with it: the upstream's figures when it sent them, else an estimate marked as one.
 */
export const withUsage = (completion: Completion, serialised: string, prompt: EstimatedPrompt): string =>
  completion.usage !== undefined && completion.usage !== null
    ? serialised
    : JSON.stringify({ ...completion, usage: estimatedUsage(completion, prompt) })
