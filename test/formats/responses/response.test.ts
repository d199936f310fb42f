import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { Completion } from "../../../core/domain/Completion.ts"
import {
  assistantTurnOf,
  newResponseId,
  type ResponseContext,
  responsesUsage,
  toResponseObject
} from "../../../core/formats/responses/response.ts"

const context: ResponseContext = {
  id: "resp_abc",
  createdAt: 1_700_000_000,
  request: { model: "gpt-5", input: "Hi", instructions: "Be brief.", max_output_tokens: 100, metadata: { a: "b" } },
  model: "gpt-5"
}
const completion = (message: Record<string, unknown>, finish_reason: string): Completion => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-5-2025-08-07",
  choices: [{ index: 0, message: { role: "assistant", content: null, ...message }, finish_reason }],
  usage: {
    prompt_tokens: 20,
    completion_tokens: 8,
    total_tokens: 28,
    prompt_tokens_details: { cached_tokens: 4 },
    completion_tokens_details: { reasoning_tokens: 3 }
  }
})

describe("chat.completion → Responses API response", () => {
  it("writes text as a message item and echoes the request's settings", () => {
    assert.deepEqual(toResponseObject(completion({ content: "Hello." }, "stop"), context), {
      id: "resp_abc",
      object: "response",
      created_at: 1_700_000_000,
      status: "completed",
      background: false,
      error: null,
      incomplete_details: null,
      instructions: "Be brief.",
      max_output_tokens: 100,
      metadata: { a: "b" },
      model: "gpt-5-2025-08-07",
      output: [{
        type: "message",
        id: "msg_abc0",
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "Hello.", annotations: [], logprobs: [] }]
      }],
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: true,
      temperature: null,
      text: { format: { type: "text" } },
      tool_choice: "auto",
      tools: [],
      top_p: null,
      truncation: "disabled",
      usage: {
        input_tokens: 20,
        input_tokens_details: { cached_tokens: 4 },
        output_tokens: 8,
        output_tokens_details: { reasoning_tokens: 3 },
        total_tokens: 28
      },
      user: null
    })
  })

  it("writes tool calls as function_call items after the text", () => {
    const response = toResponseObject(
      completion({
        content: "Checking.",
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
          { id: "call_2", type: "function", function: { name: "now", arguments: "{}" } }
        ]
      }, "tool_calls"),
      context
    )
    assert.deepEqual((response.output as Array<Record<string, unknown>>).map((item) => [item.type, item.id]), [
      ["message", "msg_abc0"],
      ["function_call", "fc_abc0"],
      ["function_call", "fc_abc1"]
    ])
    assert.deepEqual((response.output as Array<unknown>)[1], {
      type: "function_call",
      id: "fc_abc0",
      call_id: "call_1",
      name: "weather",
      arguments: "{\"city\":\"Paris\"}",
      status: "completed"
    })
    assert.equal(response.status, "completed")
  })

  it("is incomplete, with the reason, when the answer stopped at the token limit or a filter", () => {
    const length = toResponseObject(completion({ content: "Half" }, "length"), context)
    assert.equal(length.status, "incomplete")
    assert.deepEqual(length.incomplete_details, { reason: "max_output_tokens" })
    const filtered = toResponseObject(completion({ content: "" }, "content_filter"), context)
    assert.equal(filtered.status, "incomplete")
    assert.deepEqual(filtered.incomplete_details, { reason: "content_filter" })
    assert.deepEqual(filtered.output, [], "no empty message item")
  })

  it("reports null usage when the upstream sent none, and zero details when it sent no details", () => {
    assert.equal(responsesUsage(undefined), null)
    assert.deepEqual(responsesUsage({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }), {
      input_tokens: 1,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 2,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 3
    })
  })

  it("reads the assistant's turn back for the stored conversation", () => {
    const withCalls = toResponseObject(
      completion({
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
      }, "tool_calls"),
      context
    )
    assert.deepEqual(assistantTurnOf(withCalls), {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
    })
    assert.deepEqual(assistantTurnOf(toResponseObject(completion({ content: "Hi." }, "stop"), context)), {
      role: "assistant",
      content: "Hi."
    })
  })

  it("gives every response a fresh resp_ id", () => {
    const first = newResponseId()
    assert.match(first, /^resp_[0-9a-f]{32}$/)
    assert.notEqual(newResponseId(), first)
  })
})
