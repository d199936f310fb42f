import type { Completion, Usage } from "./Completion.ts"
import { type ChatMessage, textOf } from "./messages.ts"

/** A rough token count, four characters to a token: the usage of an answer no provider counted. */
const roughTokens = (text: string) => Math.ceil(text.length / 4)

/** Per message, the tokens of its framing (role, separators), as OpenAI counts chat prompts. */
const FRAMING_PER_MESSAGE = 4

/** An estimate of a completion's usage from the messages it answered and the text it answered with. */
export const estimatedUsage = (completion: Completion, messages: ReadonlyArray<ChatMessage>): Usage => {
  const prompt = messages.reduce((sum, message) => sum + roughTokens(textOf(message.content)) + FRAMING_PER_MESSAGE, 0)
  const answered = completion.choices.reduce((sum, choice) => {
    const calls = choice.message.tool_calls?.map((call) => call.function.name + call.function.arguments).join("") ?? ""
    return sum + roughTokens((choice.message.content ?? "") + calls)
  }, 0)
  return { prompt_tokens: prompt, completion_tokens: answered, total_tokens: prompt + answered }
}

/**
 * A streamed answer as the caches keep it: with its usage. A client that did not ask for the usage chunk
 * (`stream_options.include_usage`) got a stream without one, and a replay to a client that asks must still end
 * with it: the upstream's figures when it sent them, else an estimate.
 */
export const withUsage = (completion: Completion, serialised: string, messages: ReadonlyArray<ChatMessage>): string =>
  completion.usage !== undefined && completion.usage !== null
    ? serialised
    : JSON.stringify({ ...completion, usage: estimatedUsage(completion, messages) })
