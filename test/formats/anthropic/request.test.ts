import assert from "node:assert/strict"
import { describe, it } from "node:test"
import {
  fromAnthropicRequest,
  toAnthropicRequest,
  untranslatedFields
} from "../../../core/formats/anthropic/request.ts"
import { fromAnthropicMessage } from "../../../core/formats/anthropic/response.ts"

const toAnthropic = (body: Record<string, unknown>, stream = false) =>
  toAnthropicRequest(body, { model: "claude-sonnet-4-5", stream })

describe("OpenAI request → Anthropic request (the anthropic provider)", () => {
  it("lifts system and developer messages into one system prompt and keeps the turns", () => {
    const sent = toAnthropic({
      model: "gpt-4o",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "developer", content: [{ type: "text", text: "Answer in French." }] },
        { role: "user", content: "Capital of France?" },
        { role: "assistant", content: "Paris." },
        { role: "user", content: "And Italy?" }
      ]
    })
    assert.deepEqual(sent, {
      model: "claude-sonnet-4-5",
      max_tokens: 4096,
      system: "Be brief.\n\nAnswer in French.",
      messages: [
        { role: "user", content: [{ type: "text", text: "Capital of France?" }] },
        { role: "assistant", content: [{ type: "text", text: "Paris." }] },
        { role: "user", content: [{ type: "text", text: "And Italy?" }] }
      ]
    })
  })

  it("merges consecutive turns of one role, since Anthropic wants them to alternate", () => {
    const sent = toAnthropic({
      messages: [{ role: "user", content: "one" }, { role: "user", content: "two" }]
    })
    assert.deepEqual(sent.messages, [{
      role: "user",
      content: [{ type: "text", text: "one" }, { type: "text", text: "two" }]
    }])
  })

  it("sends a data-URL image as base64 and any other URL as a url source", () => {
    const sent = toAnthropic({
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "high" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } }
        ]
      }]
    })
    assert.deepEqual(sent.messages, [{
      role: "user",
      content: [
        { type: "text", text: "What is this?" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
        { type: "image", source: { type: "url", url: "https://example.com/cat.png" } }
      ]
    }])
  })

  it("turns tool definitions, tool calls and tool results into tools, tool_use and tool_result blocks", () => {
    const sent = toAnthropic({
      messages: [
        { role: "user", content: "Weather in Paris and Rome?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
            { id: "call_2", type: "function", function: { name: "weather", arguments: "" } }
          ]
        },
        { role: "tool", tool_call_id: "call_1", content: "18 °C" },
        { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "21 °C" }] }
      ],
      tools: [
        {
          type: "function",
          function: {
            name: "weather",
            description: "Current weather",
            parameters: { type: "object", properties: { city: { type: "string" } } }
          }
        },
        { type: "function", function: { name: "now" } }
      ],
      tool_choice: { type: "function", function: { name: "weather" } }
    })
    assert.deepEqual(sent.messages, [
      { role: "user", content: [{ type: "text", text: "Weather in Paris and Rome?" }] },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_1", name: "weather", input: { city: "Paris" } },
          { type: "tool_use", id: "call_2", name: "weather", input: {} }
        ]
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "18 °C" },
          { type: "tool_result", tool_use_id: "call_2", content: "21 °C" }
        ]
      }
    ])
    assert.deepEqual(sent.tools, [
      {
        name: "weather",
        description: "Current weather",
        input_schema: { type: "object", properties: { city: { type: "string" } } }
      },
      { name: "now", input_schema: { type: "object", properties: {} } }
    ])
    assert.deepEqual(sent.tool_choice, { type: "tool", name: "weather" })
  })

  it("keeps tool arguments that are not JSON rather than dropping them", () => {
    const sent = toAnthropic({
      messages: [{
        role: "assistant",
        content: "",
        tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "not json" } }]
      }]
    })
    assert.deepEqual((sent.messages as Array<{ content: unknown }>)[0]!.content, [
      { type: "tool_use", id: "c", name: "f", input: { _raw: "not json" } }
    ])
  })

  it("maps tool_choice auto, required and none", () => {
    const choiceOf = (tool_choice: unknown) => toAnthropic({ messages: [], tool_choice }).tool_choice
    assert.deepEqual(choiceOf("auto"), { type: "auto" })
    assert.deepEqual(choiceOf("required"), { type: "any" })
    assert.deepEqual(choiceOf("none"), { type: "none" })
    assert.equal(choiceOf(undefined), undefined)
  })

  it("carries sampling fields: temperature clamped to Anthropic's 0–1, stop as a list, user as metadata", () => {
    const sent = toAnthropic({
      messages: [{ role: "user", content: "hi" }],
      temperature: 1.7,
      top_p: 0.9,
      stop: "END",
      max_completion_tokens: 300,
      max_tokens: 100,
      user: "user-42"
    }, true)
    assert.equal(sent.temperature, 1)
    assert.equal(sent.top_p, 0.9)
    assert.deepEqual(sent.stop_sequences, ["END"])
    assert.equal(sent.max_tokens, 300, "max_completion_tokens wins over the legacy max_tokens")
    assert.deepEqual(sent.metadata, { user_id: "user-42" })
    assert.equal(sent.stream, true)
    assert.deepEqual(toAnthropic({ messages: [], stop: ["a", "b"] }).stop_sequences, ["a", "b"])
    assert.equal(toAnthropic({ messages: [], stop: null }).stop_sequences, undefined)
  })

  it("turns reasoning_effort into a thinking budget below max_tokens, and then sends no temperature", () => {
    const sent = toAnthropic({
      messages: [{ role: "user", content: "think" }],
      reasoning_effort: "high",
      max_tokens: 8000,
      temperature: 0.2
    })
    assert.deepEqual(sent.thinking, { type: "enabled", budget_tokens: 7999 })
    assert.equal(sent.temperature, undefined)
    assert.deepEqual(
      toAnthropic({ messages: [], reasoning_effort: "low", max_tokens: 16000 }).thinking,
      { type: "enabled", budget_tokens: 2048 }
    )
    // Anthropic needs a budget of at least 1024 tokens below max_tokens: too small a max_tokens, no thinking.
    assert.equal(toAnthropic({ messages: [], reasoning_effort: "high", max_tokens: 1000 }).thinking, undefined)
  })

  it("sends an earlier answer's thinking back with its signature, as Anthropic requires in a tool loop", () => {
    // The canonical form keeps thinking and its signature (fromAnthropicMessage) so a client can send them back.
    const answer = fromAnthropicMessage({
      id: "msg_1",
      model: "claude-sonnet-4-5",
      content: [
        { type: "thinking", thinking: "Look it up.", signature: "sig-abc" },
        { type: "redacted_thinking", data: "ENCRYPTED" },
        { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }
      ],
      stop_reason: "tool_use"
    }).choices[0]!.message
    const sent = toAnthropic({
      reasoning_effort: "medium",
      max_tokens: 16000,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        answer,
        { role: "tool", tool_call_id: "toolu_1", content: "18 °C" }
      ]
    })
    assert.deepEqual((sent.messages as Array<{ content: unknown }>)[1]!.content, [
      { type: "thinking", thinking: "Look it up.", signature: "sig-abc" },
      { type: "redacted_thinking", data: "ENCRYPTED" },
      { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }
    ])
  })

  it("leaves out reasoning without a signature (another provider's), which Anthropic would refuse", () => {
    const sent = toAnthropic({
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello", reasoning_content: "from DeepSeek" }
      ]
    })
    assert.deepEqual((sent.messages as Array<{ content: unknown }>)[1]!.content, [{ type: "text", text: "hello" }])
  })

  it("names the fields it drops", () => {
    assert.deepEqual(
      untranslatedFields({
        model: "m",
        messages: [],
        presence_penalty: 0.5,
        seed: 1,
        n: null,
        logprobs: undefined
      }, "toAnthropic"),
      ["presence_penalty", "seed"]
    )
    assert.deepEqual(
      untranslatedFields({
        model: "m",
        messages: [],
        top_k: 5,
        tools: [{ name: "f", input_schema: {} }, { type: "web_search_20250305", name: "web_search" }]
      }, "fromAnthropic"),
      ["top_k", "tools[1] (web_search_20250305)"]
    )
  })
})

describe("Anthropic request → OpenAI request (POST /v1/messages)", () => {
  it("puts the system prompt first, its text blocks as paragraphs", () => {
    const read = fromAnthropicRequest({
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      system: [
        { type: "text", text: "You are Claude Code." },
        { type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }
      ],
      messages: [{ role: "user", content: "hi" }]
    })
    assert.deepEqual(read, {
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      messages: [
        { role: "system", content: "You are Claude Code.\n\nBe brief." },
        { role: "user", content: "hi" }
      ]
    })
  })

  it("keeps a system turn inside the conversation where it was sent", () => {
    const read = fromAnthropicRequest({
      messages: [{ role: "user", content: "a" }, { role: "system", content: "note" }, { role: "user", content: "b" }]
    })
    assert.deepEqual(read.messages, [
      { role: "user", content: "a" },
      { role: "system", content: "note" },
      { role: "user", content: "b" }
    ])
  })

  it("joins text blocks into a string, and keeps images as image_url parts", () => {
    const read = fromAnthropicRequest({
      messages: [
        { role: "user", content: [{ type: "text", text: "Hello, " }, { type: "text", text: "world" }] },
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "/9j/4AAQ" } },
            { type: "image", source: { type: "url", url: "https://example.com/cat.png" } }
          ]
        }
      ]
    })
    assert.deepEqual(read.messages, [
      { role: "user", content: "Hello, world" },
      {
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } }
        ]
      }
    ])
  })

  it("turns tool_use into tool_calls and tool_result into tool messages before the user's text", () => {
    const read = fromAnthropicRequest({
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "Let me check.", signature: "sig" },
            { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }
          ]
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "18 °C" }] },
            { type: "text", text: "Thanks" }
          ]
        }
      ],
      tools: [
        { name: "weather", description: "Weather", input_schema: { type: "object" } },
        { type: "web_search_20250305", name: "web_search" }
      ],
      tool_choice: { type: "any" }
    })
    assert.deepEqual(read.messages, [
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "toolu_1",
          type: "function",
          function: { name: "weather", arguments: "{\"city\":\"Paris\"}" }
        }]
      },
      { role: "tool", tool_call_id: "toolu_1", content: "18 °C" },
      { role: "user", content: "Thanks" }
    ])
    assert.deepEqual(read.tools, [{
      type: "function",
      function: { name: "weather", description: "Weather", parameters: { type: "object" } }
    }], "a server tool (web_search) has no Chat Completions counterpart")
    assert.equal(read.tool_choice, "required")
  })

  it("maps tool_choice, sampling fields, stop sequences, thinking and metadata", () => {
    const read = fromAnthropicRequest({
      model: "claude-sonnet-4-5",
      max_tokens: 2000,
      messages: [{ role: "user", content: "hi" }],
      tool_choice: { type: "tool", name: "f" },
      temperature: 0.3,
      top_p: 0.8,
      stop_sequences: ["\n\nHuman:"],
      thinking: { type: "enabled", budget_tokens: 10_000 },
      metadata: { user_id: "u-1" },
      stream: true
    })
    assert.deepEqual(read, {
      model: "claude-sonnet-4-5",
      max_tokens: 2000,
      messages: [{ role: "user", content: "hi" }],
      tool_choice: { type: "function", function: { name: "f" } },
      temperature: 0.3,
      top_p: 0.8,
      stop: ["\n\nHuman:"],
      reasoning_effort: "medium",
      user: "u-1",
      stream: true,
      stream_options: { include_usage: true }
    })
    const effort = (thinking: unknown) => fromAnthropicRequest({ messages: [], thinking }).reasoning_effort
    assert.equal(effort({ type: "enabled", budget_tokens: 1024 }), "low")
    assert.equal(effort({ type: "enabled", budget_tokens: 32_000 }), "high")
    assert.equal(effort({ type: "adaptive" }), "medium")
    assert.equal(effort({ type: "disabled" }), undefined)
    assert.equal(fromAnthropicRequest({ messages: [], tool_choice: { type: "none" } }).tool_choice, "none")
    assert.equal(fromAnthropicRequest({ messages: [], tool_choice: { type: "auto" } }).tool_choice, "auto")
  })

  it("keeps an empty user turn as an empty message rather than dropping the turn", () => {
    assert.deepEqual(fromAnthropicRequest({ messages: [{ role: "user", content: [] }] }).messages, [
      { role: "user", content: "" }
    ])
  })

  it("round-trips a conversation with tools through both directions", () => {
    const anthropic = {
      model: "claude-sonnet-4-5",
      max_tokens: 512,
      system: "Be brief.",
      messages: [
        { role: "user", content: [{ type: "text", text: "Weather?" }] },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Checking." },
            { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }
          ]
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "18 °C" }] }
      ],
      tools: [{ name: "weather", description: "Weather", input_schema: { type: "object", properties: {} } }],
      tool_choice: { type: "auto" }
    }
    const back = toAnthropicRequest(fromAnthropicRequest(anthropic), { model: "claude-sonnet-4-5", stream: false })
    assert.deepEqual(back, anthropic)
  })
})
