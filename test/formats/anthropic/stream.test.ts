import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { anthropicStreamToOpenAI, openAIStreamToAnthropic } from "../../../core/formats/anthropic/stream.ts"
import type { OpenAIChunk } from "../../../core/formats/openai.ts"

/** Anthropic's events for one answer, as its SSE `data:` lines. */
const anthropicEvents = (...events: Array<Record<string, unknown>>) => events.map((event) => JSON.stringify(event))

const messageStart = {
  type: "message_start",
  message: {
    id: "msg_1",
    model: "claude-sonnet-4-5",
    content: [],
    usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 5 }
  }
}
const textAnswer = anthropicEvents(
  messageStart,
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "ping" },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " there" } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 12 } },
  { type: "message_stop" }
)

const translateAll = (events: Array<string>, includeUsage: boolean, usageUpFront = false) => {
  const translate = anthropicStreamToOpenAI(includeUsage, usageUpFront)
  return { chunks: events.flatMap((data) => translate.onEvent(data)) as Array<Record<string, any>>, translate }
}
const deltas = (chunks: Array<Record<string, any>>) =>
  chunks.flatMap((chunk) => (chunk.choices ?? []).map((choice: any) => [choice.delta, choice.finish_reason]))

describe("Anthropic stream → OpenAI chunks (the anthropic provider's streams)", () => {
  it("opens with the role, streams text deltas, ends with the finish reason and, when asked, usage", () => {
    const { chunks, translate } = translateAll(textAnswer, true)
    assert.deepEqual(deltas(chunks), [
      [{ role: "assistant", content: "" }, null],
      [{ content: "Hello" }, null],
      [{ content: " there" }, null],
      [{}, "stop"]
    ])
    for (const chunk of chunks) {
      assert.equal(chunk.id, "msg_1")
      assert.equal(chunk.model, "claude-sonnet-4-5")
      assert.equal(chunk.object, "chat.completion.chunk")
    }
    assert.deepEqual(chunks.at(-1)!.choices, [])
    assert.deepEqual(chunks.at(-1)!.usage, {
      prompt_tokens: 30,
      completion_tokens: 12,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 5 },
      cache_read_input_tokens: 5,
      cache_creation_input_tokens: 0
    })
    assert.equal(translate.finished(), true)
  })

  it("sends no usage chunk unless asked, and usage up front only for an Anthropic client", () => {
    assert.ok(translateAll(textAnswer, false).chunks.every((chunk) => chunk.usage === undefined))
    const upFront = translateAll(textAnswer, true, true).chunks
    assert.equal(upFront[0]!.usage.prompt_tokens, 30)
    assert.equal(upFront[0]!.usage.completion_tokens, 0)
    assert.equal(translateAll(textAnswer, true).chunks[0]!.usage, undefined)
  })

  it("takes the final input figures from message_delta when the API repeats them there", () => {
    const { chunks } = translateAll(
      anthropicEvents(
        messageStart,
        { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { input_tokens: 40, output_tokens: 2 } },
        { type: "message_stop" }
      ),
      true
    )
    assert.equal(chunks.at(-1)!.usage.prompt_tokens, 45)
    assert.equal(chunks.at(-1)!.usage.completion_tokens, 2)
  })

  it("streams tool calls with their index, id and name first, then the argument pieces", () => {
    const { chunks } = translateAll(
      anthropicEvents(
        messageStart,
        { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Checking." } },
        { type: "content_block_stop", index: 0 },
        { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "weather" } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "{\"city\":" } },
        { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "\"Paris\"}" } },
        { type: "content_block_stop", index: 1 },
        { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_2", name: "now" } },
        { type: "content_block_stop", index: 2 },
        { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 30 } },
        { type: "message_stop" }
      ),
      false
    )
    assert.deepEqual(deltas(chunks), [
      [{ role: "assistant", content: "" }, null],
      [{ content: "Checking." }, null],
      [
        { tool_calls: [{ index: 0, id: "toolu_1", type: "function", function: { name: "weather", arguments: "" } }] },
        null
      ],
      [{ tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] }, null],
      [{ tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] }, null],
      [{ tool_calls: [{ index: 1, id: "toolu_2", type: "function", function: { name: "now", arguments: "" } }] }, null],
      [{}, "tool_calls"]
    ])
  })

  it("streams thinking, its signature and redacted thinking as reasoning deltas", () => {
    const { chunks } = translateAll(
      anthropicEvents(
        messageStart,
        { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "" } },
        { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Hmm." } },
        { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
        { type: "content_block_stop", index: 0 },
        { type: "content_block_start", index: 1, content_block: { type: "redacted_thinking", data: "ENC" } },
        { type: "content_block_stop", index: 1 },
        { type: "message_delta", delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 3 } },
        { type: "message_stop" }
      ),
      false
    )
    assert.deepEqual(deltas(chunks).slice(1), [
      [{ reasoning_content: "Hmm." }, null],
      [{ reasoning_signature: "sig" }, null],
      [{ reasoning_redacted: ["ENC"] }, null],
      [{}, "length"]
    ])
  })

  it("turns an error event into an error chunk, and is not finished without message_stop", () => {
    const { chunks, translate } = translateAll(
      anthropicEvents(messageStart, {
        type: "error",
        error: { type: "overloaded_error", message: "Overloaded" }
      }),
      true
    )
    assert.deepEqual(chunks.at(-1), { error: { message: "Overloaded", type: "upstream_error" } })
    assert.equal(translate.finished(), false)
  })
})

type Event = { event: string; data: Record<string, any> }
const translateChunks = (chunks: Array<OpenAIChunk>) => {
  const translate = openAIStreamToAnthropic()
  return [...chunks.flatMap((chunk) => translate.onChunk(chunk)), ...translate.onEnd()] as Array<Event>
}
const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null): OpenAIChunk => ({
  id: "chatcmpl-1",
  model: "gpt-4o",
  choices: [{ index: 0, delta, finish_reason }]
})
const names = (events: Array<Event>) => events.map(({ event }) => event)

describe("OpenAI chunks → Anthropic stream (POST /v1/messages with stream: true)", () => {
  it("frames text as message_start, one text block, message_delta with the stop reason and message_stop", () => {
    const events = translateChunks([
      chunk({ role: "assistant", content: "" }),
      chunk({ content: "Hello" }),
      chunk({ content: " there" }),
      chunk({}, "stop"),
      { id: "chatcmpl-1", model: "gpt-4o", choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } }
    ])
    assert.deepEqual(events, [
      {
        event: "message_start",
        data: {
          type: "message_start",
          message: {
            id: "msg_chatcmpl-1",
            type: "message",
            role: "assistant",
            model: "gpt-4o",
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 0, output_tokens: 0 }
          }
        }
      },
      {
        event: "content_block_start",
        data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }
      },
      {
        event: "content_block_delta",
        data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } }
      },
      {
        event: "content_block_delta",
        data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: " there" } }
      },
      { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
      {
        event: "message_delta",
        data: {
          type: "message_delta",
          delta: { stop_reason: "end_turn", stop_sequence: null },
          usage: { input_tokens: 9, output_tokens: 2 }
        }
      },
      { event: "message_stop", data: { type: "message_stop" } }
    ])
  })

  it("puts input tokens known up front in message_start", () => {
    const events = translateChunks([
      { ...chunk({ role: "assistant", content: "" }), usage: { prompt_tokens: 30, completion_tokens: 0 } },
      chunk({ content: "x" }, "stop")
    ])
    assert.deepEqual(events[0]!.data.message.usage, { input_tokens: 30, output_tokens: 0 })
  })

  it("streams each tool call as a tool_use block with input_json_delta pieces, and stops with tool_use", () => {
    const events = translateChunks([
      chunk({ role: "assistant", content: null }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "weather", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_2", function: { name: "now", arguments: "{}" } }] }),
      chunk({}, "tool_calls")
    ])
    assert.deepEqual(names(events), [
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop"
    ])
    assert.deepEqual(events[1]!.data.content_block, { type: "tool_use", id: "call_1", name: "weather", input: {} })
    assert.deepEqual(
      events.filter((e) => e.data.delta?.type === "input_json_delta").map((
        e
      ) => [e.data.index, e.data.delta.partial_json]),
      [[0, "{\"city\":"], [0, "\"Paris\"}"], [1, "{}"]]
    )
    assert.equal(events.at(-2)!.data.delta.stop_reason, "tool_use")
  })

  it("keeps one tool_use block when a server repeats the call's id on every delta", () => {
    // Some OpenAI-compatible servers send the id with each piece; the call is still one, by its index.
    const events = translateChunks([
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { name: "weather", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "{\"city\":" } }] }),
      chunk({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "\"Paris\"}" } }] }),
      chunk({}, "tool_calls")
    ])
    const starts = events.filter((e) => e.event === "content_block_start")
    assert.deepEqual(starts.map((e) => e.data.content_block), [
      { type: "tool_use", id: "call_1", name: "weather", input: {} }
    ])
  })

  it("streams reasoning as a thinking block before the text, with its signature", () => {
    const events = translateChunks([
      chunk({ reasoning_content: "Hmm." }),
      chunk({ reasoning_signature: "sig" }),
      chunk({ reasoning_redacted: ["ENC"] }),
      chunk({ content: "42" }, "stop")
    ])
    assert.deepEqual(
      events.filter((e) => e.event === "content_block_start").map((e) => [e.data.index, e.data.content_block]),
      [
        [0, { type: "thinking", thinking: "", signature: "" }],
        [1, { type: "redacted_thinking", data: "ENC" }],
        [2, { type: "text", text: "" }]
      ]
    )
    assert.deepEqual(
      events.filter((e) => e.event === "content_block_delta").map((e) => e.data.delta),
      [
        { type: "thinking_delta", thinking: "Hmm." },
        { type: "signature_delta", signature: "sig" },
        { type: "text_delta", text: "42" }
      ]
    )
  })

  it("maps the finish reasons a client reads as stop_reason", () => {
    const stopOf = (finish: string) => translateChunks([chunk({ content: "x" }, finish)]).at(-2)!.data.delta.stop_reason
    assert.equal(stopOf("length"), "max_tokens")
    assert.equal(stopOf("content_filter"), "refusal")
    assert.equal(stopOf("stop"), "end_turn")
  })

  it("ends with one error event when the upstream sends an error or never finishes, and nothing after it", () => {
    const broken = translateChunks([chunk({ content: "partial" }), { error: { message: "rate limited" } }])
    assert.deepEqual(broken.at(-1), {
      event: "error",
      data: { type: "error", error: { type: "api_error", message: "rate limited" } }
    })
    assert.equal(broken.filter((e) => e.event === "error").length, 1)
    assert.ok(!names(broken).includes("message_stop"))
    const unfinished = translateChunks([chunk({ content: "partial" })])
    assert.equal(unfinished.at(-1)!.event, "error")
    assert.match(unfinished.at(-1)!.data.error.message, /ended before the answer was finished/)
    assert.deepEqual(translateChunks([]), [{
      event: "error",
      data: {
        type: "error",
        error: { type: "api_error", message: "upstream stream ended before the answer was finished" }
      }
    }])
    const translate = openAIStreamToAnthropic()
    translate.onChunk({ error: "boom" })
    assert.deepEqual(translate.onChunk(chunk({ content: "late" })), [])
    assert.deepEqual(translate.fail("again"), [])
  })
})
