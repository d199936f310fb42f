import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { Completion } from "../../../core/domain/Completion.ts"
import type { OpenAIChunk } from "../../../core/formats/openai.ts"
import { responseEvents, responseToSse } from "../../../core/formats/responses/replay.ts"
import { type ResponseContext, toResponseObject } from "../../../core/formats/responses/response.ts"
import { openAIStreamToResponses } from "../../../core/formats/responses/stream.ts"

const context: ResponseContext = { id: "resp_abc", createdAt: 1_700_000_000, request: { input: "Hi" }, model: "gpt-5" }
const completion: Completion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-5",
  choices: [{
    index: 0,
    message: {
      role: "assistant",
      content: "Checking.",
      tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } }]
    },
    finish_reason: "tool_calls"
  }],
  usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 }
}

describe("a stored Responses API response replayed as stream events (a cached answer, streamed)", () => {
  it("gives the same events a live stream of the same answer gives", () => {
    // The live stream of the answer the cache holds, chunk by chunk.
    const chunks: Array<OpenAIChunk> = [
      { id: "c", model: "gpt-5", choices: [{ index: 0, delta: { content: "Checking." }, finish_reason: null }] },
      {
        id: "c",
        model: "gpt-5",
        choices: [{
          index: 0,
          delta: {
            tool_calls: [{ index: 0, id: "call_1", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } }]
          },
          finish_reason: "tool_calls"
        }]
      },
      { id: "c", model: "gpt-5", choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } }
    ]
    const live = openAIStreamToResponses(context, () => {})
    const liveEvents = [...chunks.flatMap((chunk) => live.onChunk(chunk)), ...live.onEnd()]
    const replayed = responseEvents(toResponseObject(completion, context))
    assert.deepEqual(replayed.map(({ event }) => event), liveEvents.map(({ event }) => event))
    assert.deepEqual(replayed.at(-1), liveEvents.at(-1), "the same final response")
    assert.deepEqual(
      replayed.filter(({ event }) => event.endsWith(".done")).map(({ data }) => data),
      liveEvents.filter(({ event }) => event.endsWith(".done")).map(({ data }) => data)
    )
  })

  it("replays a refusal part as refusal events, and an incomplete response as response.incomplete", () => {
    const events = responseEvents({
      id: "resp_x",
      object: "response",
      status: "incomplete",
      output: [{
        type: "message",
        id: "msg_x0",
        status: "completed",
        role: "assistant",
        content: [{ type: "refusal", refusal: "I can't help with that." }]
      }]
    })
    assert.deepEqual(events.map(({ event }) => event), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.refusal.delta",
      "response.refusal.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.incomplete"
    ])
    assert.equal(events[4]!.data.delta, "I can't help with that.")
    assert.deepEqual(events[3]!.data.part, { type: "refusal", refusal: "" })
    const announced = events[0]!.data.response as Record<string, unknown>
    assert.equal(announced.status, "in_progress")
    assert.deepEqual(announced.output, [])
    assert.equal(announced.usage, null)
  })

  it("writes the events as SSE, one event and data line each", async () => {
    const response = toResponseObject(completion, context)
    const text = await new Response(responseToSse(response)).text()
    const blocks = text.split("\n\n").filter((block) => block !== "")
    const events = responseEvents(response)
    assert.equal(blocks.length, events.length)
    for (const [n, block] of blocks.entries()) {
      const [eventLine, dataLine, ...rest] = block.split("\n")
      assert.equal(eventLine, `event: ${events[n]!.event}`)
      assert.deepEqual(JSON.parse(dataLine!.slice("data: ".length)), events[n]!.data)
      assert.deepEqual(rest, [])
    }
    assert.ok(text.endsWith("\n\n"))
  })
})
