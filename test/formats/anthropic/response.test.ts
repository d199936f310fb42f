import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { Completion } from "../../../core/domain/Completion.ts"
import { fromAnthropicMessage, toAnthropicMessage } from "../../../core/formats/anthropic/response.ts"
import { parseArguments, usageFromAnthropic, usageToAnthropic } from "../../../core/formats/anthropic/wire.ts"

const completion = (message: Record<string, unknown>, finish_reason: string, usage?: Completion["usage"]) =>
  ({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o",
    choices: [{ index: 0, message: { role: "assistant", content: null, ...message }, finish_reason }],
    ...(usage ? { usage } : {})
  }) as Completion

describe("Anthropic message → chat.completion (the anthropic provider's answers)", () => {
  it("joins the text blocks, maps the stop reason and counts cached input in prompt_tokens", () => {
    const read = fromAnthropicMessage({
      id: "msg_1",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Paris" }, { type: "text", text: " is the capital." }],
      stop_reason: "end_turn",
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 }
    })
    assert.equal(read.id, "msg_1")
    assert.equal(read.object, "chat.completion")
    assert.equal(read.model, "claude-sonnet-4-5")
    assert.deepEqual(read.choices, [{
      index: 0,
      message: { role: "assistant", content: "Paris is the capital." },
      finish_reason: "stop"
    }])
    assert.deepEqual(read.usage, {
      prompt_tokens: 130,
      completion_tokens: 5,
      total_tokens: 135,
      prompt_tokens_details: { cached_tokens: 100 },
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 20
    })
  })

  it("turns tool_use blocks into tool_calls with JSON arguments, content null when there is no text", () => {
    const read = fromAnthropicMessage({
      id: "msg_2",
      model: "claude-sonnet-4-5",
      content: [
        { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } },
        { type: "tool_use", id: "toolu_2", name: "now" }
      ],
      stop_reason: "tool_use",
      usage: { input_tokens: 3, output_tokens: 4 }
    })
    assert.deepEqual(read.choices[0], {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
          { id: "toolu_2", type: "function", function: { name: "now", arguments: "{}" } }
        ]
      },
      finish_reason: "tool_calls"
    })
    assert.deepEqual(read.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 })
  })

  it("keeps thinking, its signature and redacted thinking in the reasoning fields", () => {
    const read = fromAnthropicMessage({
      id: "msg_3",
      model: "claude-sonnet-4-5",
      content: [
        { type: "thinking", thinking: "Step one. ", signature: "" },
        { type: "thinking", thinking: "Step two.", signature: "sig-2" },
        { type: "redacted_thinking", data: "ENC" },
        { type: "text", text: "42" }
      ],
      stop_reason: "end_turn"
    })
    assert.deepEqual(read.choices[0]!.message, {
      role: "assistant",
      content: "42",
      reasoning_content: "Step one. Step two.",
      reasoning_signature: "sig-2",
      reasoning_redacted: ["ENC"]
    })
  })

  it("maps every stop reason a client can meet", () => {
    const finish = (stop_reason: string | null) =>
      fromAnthropicMessage({ id: "m", model: "c", content: [{ type: "text", text: "x" }], stop_reason })
        .choices[0]!.finish_reason
    assert.equal(finish("end_turn"), "stop")
    assert.equal(finish("stop_sequence"), "stop")
    assert.equal(finish("pause_turn"), "stop")
    assert.equal(finish("max_tokens"), "length")
    assert.equal(finish("refusal"), "content_filter")
    assert.equal(finish(null), "stop")
    assert.equal(finish("a_reason_from_the_future"), "stop")
  })
})

describe("chat.completion → Anthropic message (POST /v1/messages)", () => {
  it("writes text as a text block with Anthropic's id, stop reason and usage", () => {
    const message = toAnthropicMessage(completion({ content: "Paris." }, "stop", {
      prompt_tokens: 12,
      completion_tokens: 3,
      total_tokens: 15
    }))
    assert.deepEqual(message, {
      id: "msg_chatcmpl-1",
      type: "message",
      role: "assistant",
      model: "gpt-4o",
      content: [{ type: "text", text: "Paris." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 3 }
    })
  })

  it("writes tool calls as tool_use blocks with their arguments parsed, after the text", () => {
    const message = toAnthropicMessage(completion({
      content: "Checking.",
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Rome\"}" } },
        { id: "call_2", type: "function", function: { name: "now", arguments: "" } }
      ]
    }, "tool_calls"))
    assert.deepEqual(message.content, [
      { type: "text", text: "Checking." },
      { type: "tool_use", id: "call_1", name: "weather", input: { city: "Rome" } },
      { type: "tool_use", id: "call_2", name: "now", input: {} }
    ])
    assert.equal(message.stop_reason, "tool_use")
    assert.deepEqual(message.usage, { input_tokens: 0, output_tokens: 0 }, "no usage upstream: zeros, not absent")
  })

  it("puts thinking first, with its signature, then redacted thinking", () => {
    const message = toAnthropicMessage(completion({
      content: "42",
      reasoning_content: "Because.",
      reasoning_signature: "sig",
      reasoning_redacted: ["ENC"]
    }, "stop"))
    assert.deepEqual(message.content, [
      { type: "thinking", thinking: "Because.", signature: "sig" },
      { type: "redacted_thinking", data: "ENC" },
      { type: "text", text: "42" }
    ])
  })

  it("keeps an id that is already Anthropic's and maps the finish reasons back", () => {
    assert.equal(toAnthropicMessage({ ...completion({ content: "x" }, "stop"), id: "msg_abc" }).id, "msg_abc")
    const stop = (finish: string) => toAnthropicMessage(completion({ content: "x" }, finish)).stop_reason
    assert.equal(stop("length"), "max_tokens")
    assert.equal(stop("content_filter"), "refusal")
    assert.equal(stop("function_call"), "tool_use")
    assert.equal(stop("something_else"), "end_turn")
  })

  it("sends no empty text block for an answer with no text", () => {
    assert.deepEqual(toAnthropicMessage(completion({ content: "" }, "stop")).content, [])
  })

  it("round-trips an Anthropic answer, cache figures included", () => {
    const original = {
      id: "msg_9",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [
        { type: "thinking", thinking: "Hmm.", signature: "s" },
        { type: "text", text: "Done." },
        { type: "tool_use", id: "toolu_9", name: "f", input: { a: [1, 2] } }
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 9, cache_read_input_tokens: 50, cache_creation_input_tokens: 0 }
    }
    assert.deepEqual(toAnthropicMessage(fromAnthropicMessage(original)), original)
  })
})

describe("the shared wire helpers", () => {
  it("parse tool arguments: empty is {}, JSON is parsed, anything else kept raw", () => {
    assert.deepEqual(parseArguments(""), {})
    assert.deepEqual(parseArguments("  "), {})
    assert.deepEqual(parseArguments("{\"a\":1}"), { a: 1 })
    assert.deepEqual(parseArguments("{\"a\":"), { _raw: "{\"a\":" })
  })

  it("convert usage both ways without losing cache figures", () => {
    for (
      const usage of [
        { input_tokens: 5, output_tokens: 2 },
        { input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 10, cache_creation_input_tokens: 3 }
      ]
    ) {
      assert.deepEqual(usageToAnthropic(usageFromAnthropic(usage)), usage)
    }
    assert.deepEqual(usageToAnthropic(null), { input_tokens: 0, output_tokens: 0 })
    assert.deepEqual(
      usageToAnthropic({ prompt_tokens: 2, completion_tokens: 1, cache_read_input_tokens: 5 }),
      { input_tokens: 0, output_tokens: 1, cache_read_input_tokens: 5, cache_creation_input_tokens: 0 },
      "never a negative input count"
    )
  })
})
