import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import { ChatOpenAI } from "@langchain/openai"
import assert from "node:assert/strict"
import {
  type Answer,
  caught,
  type DriverFactory,
  type DriverOptions,
  SUNNY,
  weatherDescription,
  weatherParameters
} from "../driver.ts"

// LangChain's ChatOpenAI, on Chat Completions or (useResponsesApi) the Responses API, through its own copy of the
// openai SDK.

/** A LangChain stream's chunks joined into one message, as LangChain's docs do it. */
const concatenated = async (chunks: AsyncIterable<AIMessageChunk>) => {
  let whole: AIMessageChunk | undefined
  for await (const chunk of chunks) whole = whole ? whole.concat(chunk) : chunk
  assert.ok(whole, "the stream has chunks")
  return whole
}

const langchainDriver = (name: string, api: "chat" | "responses"): DriverFactory => ({
  name,
  api,
  make: (options) => {
    const model = new ChatOpenAI({
      model: "gpt-4o-mini",
      apiKey: options.apiKey,
      useResponsesApi: api === "responses",
      configuration: { baseURL: `${options.url}/v1`, fetch: options.tap.fetch },
      ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries })
    })
    const messages = (prompt: string, system?: string): Array<BaseMessage> => [
      ...(system ? [new SystemMessage(system)] : []),
      new HumanMessage(prompt)
    ]
    return {
      name,
      api,
      ask: async (prompt, { system, stream } = {}) => {
        const answer = (message: AIMessage | AIMessageChunk): Answer => ({
          text: message.text,
          inputTokens: message.usage_metadata?.input_tokens,
          outputTokens: message.usage_metadata?.output_tokens
        })
        if (!stream) return answer(await model.invoke(messages(prompt, system)))
        return answer(await concatenated(await model.stream(messages(prompt, system))))
      },
      toolRoundTrip: async (prompt, { stream } = {}) => {
        const withTools = model.bindTools([{
          type: "function",
          function: { name: "get_weather", description: weatherDescription, parameters: weatherParameters }
        }])
        const send = async (input: Array<BaseMessage>) =>
          stream ? concatenated(await withTools.stream(input)) : withTools.invoke(input)
        const first = await send(messages(prompt))
        const call = first.tool_calls?.[0]
        assert.ok(call?.id, `a tool call: ${JSON.stringify(first.tool_calls)}`)
        const second = await send([
          ...messages(prompt),
          new AIMessage({ content: first.content, tool_calls: first.tool_calls ?? [] }),
          new ToolMessage({ content: SUNNY, tool_call_id: call.id })
        ])
        return { name: call.name, args: call.args, answer: second.text }
      },
      fail: (prompt) => caught(model.invoke(messages(prompt))),
      assertError: (error, status, message) => {
        // LangChain rethrows the openai SDK's error (its own copy of the SDK, so not this file's OpenAI.APIError).
        const e = error as { status?: unknown; error?: { message?: unknown; type?: unknown } }
        assert.equal(e.status, status, `status of ${String(error)}`)
        assert.ok(String(e.error?.message).includes(message), `OpenAI's error shape: ${JSON.stringify(e.error)}`)
        assert.equal(typeof e.error?.type, "string")
      }
    }
  }
})

export const langchainChatOpenAI = langchainDriver("LangChain ChatOpenAI", "chat")
export const langchainResponses = langchainDriver("LangChain ChatOpenAI (useResponsesApi)", "responses")
