import assert from "node:assert/strict"
import OpenAI from "openai"
import {
  type Answer,
  caught,
  type DriverFactory,
  type DriverOptions,
  SUNNY,
  weatherDescription,
  weatherParameters
} from "../driver.ts"

// The openai SDK: chat.completions and responses, as its README shows them.

const assertOpenAIError = (error: unknown, status: number, message: string) => {
  assert.ok(error instanceof OpenAI.APIError, `an OpenAI.APIError: ${String(error)}`)
  assert.equal(error.status, status)
  if (status === 429) assert.ok(error instanceof OpenAI.RateLimitError)
  if (status === 400) assert.ok(error instanceof OpenAI.BadRequestError)
  if (status === 401) assert.ok(error instanceof OpenAI.AuthenticationError)
  const body = error.error as { message?: unknown; type?: unknown }
  assert.ok(String(body.message).includes(message), `OpenAI's error shape: ${JSON.stringify(error.error)}`)
  assert.equal(typeof body.type, "string", `OpenAI's error shape: ${JSON.stringify(error.error)}`)
}

const openaiSdk = (options: DriverOptions) =>
  new OpenAI({
    apiKey: options.apiKey,
    baseURL: `${options.url}/v1`,
    fetch: options.tap.fetch,
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries })
  })

const chatAnswer = (completion: OpenAI.ChatCompletion): Answer => ({
  text: completion.choices[0]?.message.content ?? "",
  inputTokens: completion.usage?.prompt_tokens,
  outputTokens: completion.usage?.completion_tokens
})

export const openaiChat: DriverFactory = {
  name: "openai SDK chat.completions",
  api: "chat",
  make: (options) => {
    const client = openaiSdk(options)
    const model = "gpt-4o-mini"
    const messages = (prompt: string, system?: string): Array<OpenAI.ChatCompletionMessageParam> => [
      ...(system ? [{ role: "system" as const, content: system }] : []),
      { role: "user", content: prompt }
    ]
    return {
      name: "openai SDK chat.completions",
      api: "chat",
      ask: async (prompt, { system, stream } = {}) => {
        const request = { model, messages: messages(prompt, system) }
        if (!stream) return chatAnswer(await client.chat.completions.create(request))
        let text = ""
        let usage: OpenAI.CompletionUsage | undefined
        const chunks = await client.chat.completions.create({
          ...request,
          stream: true,
          stream_options: { include_usage: true }
        })
        for await (const chunk of chunks) {
          text += chunk.choices[0]?.delta.content ?? ""
          usage = chunk.usage ?? usage
        }
        return { text, inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens }
      },
      toolRoundTrip: async (prompt, { stream } = {}) => {
        const tools: Array<OpenAI.ChatCompletionTool> = [{
          type: "function",
          function: { name: "get_weather", description: weatherDescription, parameters: weatherParameters }
        }]
        const complete = (body: OpenAI.ChatCompletionCreateParamsNonStreaming & { stream?: never }) =>
          stream ? client.chat.completions.stream(body).finalChatCompletion() : client.chat.completions.create(body)
        const first = await complete({ model, messages: messages(prompt), tools })
        assert.equal(first.choices[0]?.finish_reason, "tool_calls")
        const message = first.choices[0]!.message
        const call = message.tool_calls?.[0]
        assert.ok(call?.type === "function", `a function call: ${JSON.stringify(message)}`)
        const second = await complete({
          model,
          tools,
          messages: [...messages(prompt), message, { role: "tool", tool_call_id: call.id, content: SUNNY }]
        })
        return {
          name: call.function.name,
          args: JSON.parse(call.function.arguments),
          answer: second.choices[0]?.message.content ?? ""
        }
      },
      fail: (prompt) => caught(client.chat.completions.create({ model, messages: messages(prompt) })),
      assertError: assertOpenAIError
    }
  }
}

const responseAnswer = (response: OpenAI.Responses.Response): Answer => ({
  text: response.output_text,
  inputTokens: response.usage?.input_tokens,
  outputTokens: response.usage?.output_tokens
})

export const openaiResponses: DriverFactory = {
  name: "openai SDK responses",
  api: "responses",
  make: (options) => {
    const client = openaiSdk(options)
    const model = "gpt-4o-mini"
    return {
      name: "openai SDK responses",
      api: "responses",
      ask: async (prompt, { system, stream } = {}) => {
        const request = { model, input: prompt, ...(system ? { instructions: system } : {}) }
        if (!stream) return responseAnswer(await client.responses.create(request))
        let text = ""
        let completed: OpenAI.Responses.Response | undefined
        for await (const event of await client.responses.create({ ...request, stream: true })) {
          if (event.type === "response.output_text.delta") text += event.delta
          if (event.type === "response.completed") completed = event.response
        }
        assert.ok(completed, "the stream ends with response.completed")
        return { ...responseAnswer(completed), text }
      },
      toolRoundTrip: async (prompt, { stream } = {}) => {
        const tools: Array<OpenAI.Responses.Tool> = [{
          type: "function",
          name: "get_weather",
          description: weatherDescription,
          parameters: weatherParameters,
          strict: false
        }]
        const input: Array<OpenAI.Responses.ResponseInputItem> = [{ role: "user", content: prompt }]
        const respond = (body: OpenAI.Responses.ResponseCreateParamsNonStreaming & { stream?: never }) =>
          stream ? client.responses.stream(body).finalResponse() : client.responses.create(body)
        const first = await respond({ model, input, tools })
        const call = first.output.find((item) => item.type === "function_call")
        assert.ok(call?.type === "function_call", `a function call: ${JSON.stringify(first.output)}`)
        const second = await respond({
          model,
          tools,
          input: [...input, call, { type: "function_call_output", call_id: call.call_id, output: SUNNY }]
        })
        return { name: call.name, args: JSON.parse(call.arguments), answer: second.output_text }
      },
      fail: (prompt) => caught(client.responses.create({ model, input: prompt })),
      assertError: assertOpenAIError
    }
  }
}
