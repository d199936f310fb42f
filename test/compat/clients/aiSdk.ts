import { createAnthropic } from "@ai-sdk/anthropic"
import { createOpenAI } from "@ai-sdk/openai"
import { APICallError, generateText, jsonSchema, type LanguageModel, stepCountIs, streamText } from "ai"
import assert from "node:assert/strict"
import {
  caught,
  type Driver,
  type DriverFactory,
  type DriverOptions,
  SUNNY,
  weatherDescription,
  weatherParameters
} from "../driver.ts"

// The Vercel AI SDK's model objects: openai("…") (the Responses API), openai.chat("…") and anthropic("…").

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
