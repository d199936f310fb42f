import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { aiSdkOpenAIResponses } from "./clients/aiSdk.ts"
import { langchainResponses } from "./clients/langchain.ts"
import { openaiResponses } from "./clients/openai.ts"
import { compatSuite, sseEvents, upstreamFormats } from "./suite.ts"

// The Responses API clients: the openai SDK's responses.create, the AI SDK's default openai("…") model object and
// LangChain's ChatOpenAI with useResponsesApi.
const upstreams = compatSuite([openaiResponses, aiSdkOpenAIResponses, langchainResponses])

// Conversation state kept by the gateway, as the openai SDK uses it.
describe("openai SDK responses: stored responses", () => {
  for (const format of upstreamFormats) {
    it(`continues from previous_response_id, retrieves and deletes a response (${format}-format upstream)`, async () => {
      const client = new OpenAI({
        apiKey: `responses-state-${format}`,
        baseURL: `${upstreams.gateway(format).url}/v1`,
        maxRetries: 0
      })
      const first = await client.responses.create({ model: "gpt-4o-mini", input: `My name is Ada (${format}).` })
      assert.equal(first.object, "response")
      assert.equal(first.status, "completed")
      const second = await client.responses.create({
        model: "gpt-4o-mini",
        input: "What is my name?",
        previous_response_id: first.id
      })
      // The model saw the first question, its answer and the new question.
      assert.equal(second.output_text, "Answer to: What is my name? | system: none | turns: 3")
      assert.equal(second.previous_response_id, first.id)

      const retrieved = await client.responses.retrieve(first.id)
      assert.equal(retrieved.id, first.id)
      assert.equal(retrieved.output_text, first.output_text)
      await client.responses.delete(first.id)
      const gone = await client.responses.retrieve(first.id).catch((e: unknown) => e)
      assert.ok(gone instanceof OpenAI.NotFoundError, String(gone))
    })
  }
})

describe("a Responses API stream that breaks off", () => {
  for (const format of upstreamFormats) {
    it(`ends with exactly one error event, in the Responses API's format (${format}-format upstream)`, async () => {
      upstreams.providers().queue.push({ kind: "break-stream" })
      const response = await fetch(`${upstreams.gateway(format).url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer broken-${format}` },
        body: JSON.stringify({
          model: "gpt-4o-mini",
          input: "A story that breaks off, told word by word",
          stream: true
        })
      })
      assert.equal(response.status, 200)
      const events = sseEvents(await response.text())
      const errors = events.filter((event) => event.event === "error" || event.data.error !== undefined)
      assert.equal(errors.length, 1, JSON.stringify(errors))
      assert.equal(events.at(-1), errors[0], "nothing after the error")
      assert.equal(errors[0]!.event, "error")
      assert.equal(errors[0]!.data.type, "error")
      assert.equal(typeof errors[0]!.data.message, "string")
      assert.ok(!events.some((event) => event.data.type === "response.completed"))
    })
  }
})
