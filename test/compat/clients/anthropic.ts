import Anthropic from "@anthropic-ai/sdk"
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

// @anthropic-ai/sdk: messages.create and messages.stream.

/** Anthropic's error type for each status the gateway answers. */
const anthropicErrorType: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  429: "rate_limit_error",
  502: "api_error"
}

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
