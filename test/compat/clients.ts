import { createAnthropic } from "@ai-sdk/anthropic"
import { createOpenAI } from "@ai-sdk/openai"
import Anthropic from "@anthropic-ai/sdk"
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  HumanMessage,
  SystemMessage,
  ToolMessage
} from "@langchain/core/messages"
import { ChatOpenAI } from "@langchain/openai"
import { APICallError, generateText, jsonSchema, type LanguageModel, stepCountIs, streamText } from "ai"
import assert from "node:assert/strict"
import OpenAI from "openai"

/**
 * Each real client library, driven the way its documentation shows, behind one small interface so that the
 * compatibility suite is a table: ask (plain or streamed, with or without a system prompt), a tool round trip
 * (the model calls `get_weather`, the client answers "sunny"), and a failing prompt whose error the client raises.
 */
export interface Driver {
  readonly name: string
  /** The API the client speaks, and so the shape its errors come in. */
  readonly api: "chat" | "messages" | "responses"
  ask(prompt: string, options?: { readonly system?: string; readonly stream?: boolean }): Promise<Answer>
  toolRoundTrip(
    prompt: string,
    options?: { readonly stream?: boolean }
  ): Promise<{ readonly name: string; readonly args: unknown; readonly answer: string }>
  /** Sends a prompt that must fail; resolves with what the client threw. */
  fail(prompt: string): Promise<unknown>
  /** Asserts that `error` is the client's own error for an HTTP `status` in its API's format, quoting `message`. */
  assertError(error: unknown, status: number, message: string): void
}

/** An answer's text and token usage, as the client reports them. */
export interface Answer {
  readonly text: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
}

/** What the client sent (path, body, headers) and which layer answered, as the client's fetch saw it. */
export interface Tap {
  readonly paths: Array<string>
  readonly bodies: Array<unknown>
  readonly headers: Array<Headers>
  readonly layers: Array<string | null>
  readonly fetch: typeof fetch
}

export const makeTap = (): Tap => {
  const paths: Array<string> = []
  const bodies: Array<unknown> = []
  const headers: Array<Headers> = []
  const layers: Array<string | null> = []
  return {
    paths,
    bodies,
    headers,
    layers,
    fetch: async (input, init) => {
      paths.push(new URL(input instanceof Request ? input.url : input).pathname)
      bodies.push(init?.body)
      headers.push(new Headers(init?.headers))
      const response = await fetch(input, init)
      layers.push(response.headers.get("x-isartor-layer"))
      return response
    }
  }
}

/** The gateway route each API's clients call. */
export const routeOf = { chat: "/v1/chat/completions", messages: "/v1/messages", responses: "/v1/responses" } as const

export interface DriverOptions {
  readonly url: string
  readonly apiKey: string
  readonly tap: Tap
  /** The client's retries; undefined keeps the library's default. */
  readonly maxRetries?: number
}

export type DriverFactory = {
  readonly name: string
  readonly api: Driver["api"]
  readonly make: (options: DriverOptions) => Driver
}

const caught = (promise: Promise<unknown>) => promise.then(() => assert.fail("expected an error"), (e: unknown) => e)

const weatherParameters = {
  type: "object" as const,
  properties: { query: { type: "string" } },
  required: ["query"]
}
const weatherDescription = "The weather for a question"
const SUNNY = "sunny"

// ---- OpenAI Chat Completions and Responses with the openai SDK ----

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

/** Anthropic's error type for each status the gateway answers. */
const anthropicErrorType: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  429: "rate_limit_error",
  502: "api_error"
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

// ---- Anthropic Messages with @anthropic-ai/sdk ----

export const anthropicMessages: DriverFactory = {
  name: "@anthropic-ai/sdk messages",
  api: "messages",
  make: (options) => {
    const client = new Anthropic({
      apiKey: options.apiKey,
      baseURL: options.url,
      fetch: options.tap.fetch,
      ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries })
    })
    const base = { model: "claude-sonnet-5-5", max_tokens: 256 }
    const textOf = (message: Anthropic.Message) =>
      message.content.map((block) => (block.type === "text" ? block.text : "")).join("")
    return {
      name: "@anthropic-ai/sdk messages",
      api: "messages",
      ask: async (prompt, { system, stream } = {}) => {
        const request = {
          ...base,
          messages: [{ role: "user" as const, content: prompt }],
          ...(system ? { system } : {})
        }
        const answer = (message: Anthropic.Message): Answer => ({
          text: textOf(message),
          inputTokens: message.usage.input_tokens,
          outputTokens: message.usage.output_tokens
        })
        if (!stream) return answer(await client.messages.create(request))
        let text = ""
        const events = client.messages.stream(request)
        events.on("text", (delta) => (text += delta))
        const final = await events.finalMessage()
        assert.equal(textOf(final), text)
        return answer(final)
      },
      toolRoundTrip: async (prompt, { stream } = {}) => {
        const tools: Array<Anthropic.Tool> = [{
          name: "get_weather",
          description: weatherDescription,
          input_schema: weatherParameters
        }]
        const messages: Array<Anthropic.MessageParam> = [{ role: "user", content: prompt }]
        const send = (body: Anthropic.MessageCreateParamsNonStreaming) =>
          stream ? client.messages.stream(body).finalMessage() : client.messages.create(body)
        const first = await send({ ...base, messages, tools })
        const call = first.content.find((block) => block.type === "tool_use")
        assert.ok(call?.type === "tool_use", `a tool_use block: ${JSON.stringify(first.content)}`)
        assert.equal(first.stop_reason, "tool_use")
        const second = await send({
          ...base,
          tools,
          messages: [
            ...messages,
            { role: "assistant", content: first.content },
            { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: SUNNY }] }
          ]
        })
        return { name: call.name, args: call.input, answer: textOf(second) }
      },
      fail: (prompt) => caught(client.messages.create({ ...base, messages: [{ role: "user", content: prompt }] })),
      assertError: (error, status, message) => {
        assert.ok(error instanceof Anthropic.APIError, `an Anthropic.APIError: ${String(error)}`)
        assert.equal(error.status, status)
        if (status === 429) assert.ok(error instanceof Anthropic.RateLimitError)
        if (status === 400) assert.ok(error instanceof Anthropic.BadRequestError)
        if (status === 401) assert.ok(error instanceof Anthropic.AuthenticationError)
        const body = error.error as { type?: unknown; error?: { type?: unknown; message?: unknown } }
        assert.equal(body.type, "error", `Anthropic's error shape: ${JSON.stringify(error.error)}`)
        assert.equal(body.error?.type, anthropicErrorType[status])
        assert.ok(String(body.error?.message).includes(message), JSON.stringify(error.error))
      }
    }
  }
}

// ---- LangChain's ChatOpenAI (Chat Completions through its own copy of the openai SDK) ----

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

// ---- The Vercel AI SDK's model objects ----

const aiSdkDriver = (
  name: string,
  api: Driver["api"],
  model: (options: DriverOptions) => LanguageModel
): DriverFactory => ({
  name,
  api,
  make: (options) => {
    const languageModel = model(options)
    const retries = options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }
    return {
      name,
      api,
      ask: async (prompt, { system, stream } = {}) => {
        const request = { model: languageModel, prompt, ...(system ? { system } : {}), ...retries }
        if (!stream) {
          const result = await generateText(request)
          assert.equal(result.finishReason, "stop")
          return { text: result.text, inputTokens: result.usage.inputTokens, outputTokens: result.usage.outputTokens }
        }
        let failure: unknown
        const result = streamText({ ...request, onError: ({ error }) => void (failure = error) })
        let text = ""
        for await (const delta of result.textStream) text += delta
        if (failure !== undefined) throw failure
        assert.equal(await result.finishReason, "stop")
        const usage = await result.usage
        return { text, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens }
      },
      toolRoundTrip: async (prompt, { stream } = {}) => {
        const request = {
          model: languageModel,
          prompt,
          ...retries,
          stopWhen: stepCountIs(2),
          tools: {
            get_weather: {
              description: weatherDescription,
              inputSchema: jsonSchema<{ query: string }>(weatherParameters),
              execute: async () => SUNNY
            }
          }
        }
        let failure: unknown
        const result = stream
          ? streamText({ ...request, onError: ({ error }) => void (failure = error) })
          : await generateText(request)
        const steps = await result.steps
        if (failure !== undefined) throw failure
        assert.equal(steps[0]?.finishReason, "tool-calls")
        const call = steps[0]?.toolCalls[0]
        assert.ok(call, `a tool call: ${JSON.stringify(steps[0]?.content)}`)
        return { name: call.toolName, args: call.input, answer: await result.text }
      },
      fail: (prompt) => caught(generateText({ model: languageModel, prompt, ...retries })),
      assertError: (error, status, message) => {
        // After its retries the AI SDK throws a RetryError wrapping the last APICallError.
        const last = APICallError.isInstance(error) ? error : (error as { lastError?: unknown }).lastError
        assert.ok(APICallError.isInstance(last), `an APICallError: ${String(error)}`)
        assert.equal(last.statusCode, status)
        // `data` is set only when the body parsed as the provider's own error shape.
        const data = last.data as { type?: unknown; error?: { message?: unknown; type?: unknown } } | undefined
        assert.ok(String(data?.error?.message).includes(message), `the provider's error shape: ${last.responseBody}`)
        assert.ok(last.message.includes(message), last.message)
        if (api === "messages") assert.equal(data?.type, "error")
      }
    }
  }
})

const aiOpenAI = (options: DriverOptions) =>
  createOpenAI({ apiKey: options.apiKey, baseURL: `${options.url}/v1`, fetch: options.tap.fetch })

export const aiSdkOpenAIResponses = aiSdkDriver(
  "AI SDK openai() (Responses API)",
  "responses",
  (options) => aiOpenAI(options)("gpt-4o-mini")
)
export const aiSdkOpenAIChat = aiSdkDriver(
  "AI SDK openai.chat()",
  "chat",
  (options) => aiOpenAI(options).chat("gpt-4o-mini")
)
export const aiSdkAnthropic = aiSdkDriver(
  "AI SDK anthropic()",
  "messages",
  (options) =>
    createAnthropic({ apiKey: options.apiKey, baseURL: `${options.url}/v1`, fetch: options.tap.fetch })(
      "claude-sonnet-5-5"
    )
)
