import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { OpenAIChunk } from "../../../core/formats/openai.ts"
import type { ResponseContext } from "../../../core/formats/responses/response.ts"
import { openAIStreamToResponses, type ResponsesEvent } from "../../../core/formats/responses/stream.ts"

const context: ResponseContext = { id: "resp_abc", createdAt: 1_700_000_000, request: { input: "Hi" }, model: "gpt-5" }
const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null, index = 0): OpenAIChunk => ({
  id: "chatcmpl-1",
  model: "gpt-5-2025-08-07",
  choices: [{ index, delta, finish_reason }]
})

const run = (chunks: Array<OpenAIChunk>) => {
  const stored: Array<Record<string, unknown>> = []
  const translate = openAIStreamToResponses(context, (response) => stored.push(response))
  const events = [...chunks.flatMap((c) => translate.onChunk(c)), ...translate.onEnd()] as Array<
    ResponsesEvent & { data: Record<string, any> }
  >
  return { events, stored, translate }
}
const types = (events: Array<ResponsesEvent>) => events.map(({ event }) => event)

describe("OpenAI chunks → Responses API stream events", () => {
  it("announces, fills and closes a message item, numbering every event", () => {
    const { events, stored } = run([
      chunk({ role: "assistant", content: "" }),
      chunk({ content: "Hel" }),
      chunk({ content: "lo" }),
      chunk({}, "stop"),
      { ...chunk({}), choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }
    ])
    assert.deepEqual(types(events), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed"
    ])
    assert.deepEqual(events.map(({ data }) => data.sequence_number), events.map((_, n) => n))
    assert.ok(events.every(({ event, data }) => data.type === event))
    assert.equal(events[0]!.data.response.status, "in_progress")
    assert.deepEqual(events[2]!.data.item, {
      type: "message",
      id: "msg_abc0",
      status: "in_progress",
      role: "assistant",
      content: []
    })
    assert.deepEqual(events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta), [
      "Hel",
      "lo"
    ])
    assert.equal(events[6]!.data.text, "Hello")
    const completed = events.at(-1)!.data.response
    assert.equal(completed.status, "completed")
    assert.equal(completed.model, "gpt-5-2025-08-07")
    assert.deepEqual(completed.output, [{
      type: "message",
      id: "msg_abc0",
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello", annotations: [], logprobs: [] }]
    }])
    assert.deepEqual(completed.usage, {
      input_tokens: 5,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 7
    })
    assert.deepEqual(stored, [completed], "the finished response goes to the store")
  })

  it("streams each tool call as a function_call item with its argument pieces", () => {
    const { events } = run([
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "weather", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_2", function: { name: "now", arguments: "{}" } }] }),
      chunk({}, "tool_calls")
    ])
    assert.deepEqual(types(events).slice(2), [
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed"
    ])
    assert.deepEqual(events[2]!.data.item, {
      type: "function_call",
      id: "fc_abc0",
      call_id: "call_1",
      name: "weather",
      arguments: "",
      status: "in_progress"
    })
    assert.deepEqual(events.at(-1)!.data.response.output.map((item: any) => [item.call_id, item.arguments]), [
      ["call_1", "{\"city\":\"Paris\"}"],
      ["call_2", "{}"]
    ])
  })

  it("keeps one function_call item when a server repeats the call's id on every piece", () => {
    const { events } = run([
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "f", arguments: "{\"a\":" } }] }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "1}" } }] }),
      chunk({}, "tool_calls")
    ])
    assert.deepEqual(events.at(-1)!.data.response.output.map((item: any) => item.arguments), ["{\"a\":1}"])
  })

  it("follows the text with the calls, closing the message first", () => {
    const { events } = run([
      chunk({ content: "Checking." }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "f", arguments: "{}" } }] }),
      chunk({}, "tool_calls")
    ])
    assert.deepEqual(
      events.filter((e) => e.event.startsWith("response.output_item")).map((e) => [e.event, e.data.output_index]),
      [
        ["response.output_item.added", 0],
        ["response.output_item.done", 0],
        ["response.output_item.added", 1],
        ["response.output_item.done", 1]
      ]
    )
  })

  it("reads only the first choice", () => {
    const { events } = run([chunk({ content: "A" }), chunk({ content: "B" }, null, 1), chunk({}, "stop")])
    assert.deepEqual(events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta), ["A"])
  })

  it("ends incomplete at the token limit", () => {
    const { events } = run([chunk({ content: "Half" }, "length")])
    assert.equal(events.at(-1)!.event, "response.incomplete")
    assert.deepEqual(events.at(-1)!.data.response.incomplete_details, { reason: "max_output_tokens" })
  })

  it("ends with one error event on an upstream error or an unfinished stream, and stores nothing", () => {
    const failed = run([chunk({ content: "partial" }), { error: { message: "rate limited" } }])
    assert.deepEqual(failed.events.at(-1)!.data, {
      type: "error",
      sequence_number: failed.events.length - 1,
      code: "upstream_error",
      message: "rate limited",
      param: null
    })
    assert.deepEqual(failed.stored, [])
    const unfinished = run([chunk({ content: "partial" })])
    assert.equal(unfinished.events.at(-1)!.event, "error")
    assert.match(unfinished.events.at(-1)!.data.message, /ended before the answer was finished/)
    assert.deepEqual(unfinished.stored, [])
    assert.deepEqual(unfinished.translate.onChunk(chunk({ content: "late" })), [])
    assert.deepEqual(unfinished.translate.fail("again"), [])
  })
})
