import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { fromResponsesRequest } from "../../../core/formats/responses/request.ts"

describe("Responses API request → Chat Completions request", () => {
  it("turns instructions and a string input into a system and a user message", () => {
    assert.deepEqual(fromResponsesRequest({ model: "gpt-5", instructions: "Be brief.", input: "Hi" }, []), {
      body: {
        model: "gpt-5",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
      },
      turns: [{ role: "user", content: "Hi" }],
      dropped: []
    })
  })

  it("reads message items with text and image parts, keeping developer and assistant roles", () => {
    const { body, dropped } = fromResponsesRequest({
      model: "gpt-5",
      input: [
        { role: "developer", content: "Answer in French." },
        { type: "message", role: "user", content: [{ type: "input_text", text: "Capital?" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Paris." }] },
        {
          role: "user",
          content: [
            { type: "input_text", text: "And this?" },
            { type: "input_image", image_url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" },
            { type: "input_file", file_id: "file-1" }
          ]
        }
      ]
    }, [])
    assert.deepEqual(body.messages, [
      { role: "developer", content: "Answer in French." },
      { role: "user", content: "Capital?" },
      { role: "assistant", content: "Paris." },
      {
        role: "user",
        content: [
          { type: "text", text: "And this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "low" } }
        ]
      }
    ])
    assert.deepEqual(dropped, ["input content part input_file"])
  })

  it("folds consecutive function calls into one assistant turn and outputs into tool messages", () => {
    const { body, dropped } = fromResponsesRequest({
      model: "gpt-5",
      input: [
        { role: "user", content: "Weather in Paris and Rome?" },
        { type: "reasoning", id: "rs_1", summary: [] },
        { type: "function_call", call_id: "call_1", name: "weather", arguments: "{\"city\":\"Paris\"}" },
        { type: "function_call", call_id: "call_2", name: "weather", arguments: "{\"city\":\"Rome\"}" },
        { type: "function_call_output", call_id: "call_1", output: "18 °C" },
        { type: "function_call_output", call_id: "call_2", output: [{ type: "input_text", text: "21 °C" }] }
      ]
    }, [])
    assert.deepEqual(body.messages, [
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
          { id: "call_2", type: "function", function: { name: "weather", arguments: "{\"city\":\"Rome\"}" } }
        ]
      },
      { role: "tool", tool_call_id: "call_1", content: "18 °C" },
      { role: "tool", tool_call_id: "call_2", content: "21 °C" }
    ])
    assert.deepEqual(dropped, ["input item reasoning"])
  })

  it("carries function tools and tool_choice, and names built-in tools it drops", () => {
    const { body, dropped } = fromResponsesRequest({
      model: "gpt-5",
      input: "Weather?",
      tools: [
        { type: "function", name: "weather", description: "Weather", parameters: { type: "object" }, strict: true },
        { type: "web_search" }
      ],
      tool_choice: { type: "function", name: "weather" }
    }, [])
    assert.deepEqual(body.tools, [{
      type: "function",
      function: { name: "weather", description: "Weather", parameters: { type: "object" }, strict: true }
    }])
    assert.deepEqual(body.tool_choice, { type: "function", function: { name: "weather" } })
    assert.deepEqual(dropped, ["tool web_search"])
    assert.equal(
      fromResponsesRequest({ input: "x", tool_choice: "required" }, []).body.tool_choice,
      undefined,
      "no tools: no tool_choice (Chat Completions refuses one alone)"
    )
    assert.equal(
      fromResponsesRequest({ input: "x", tools: [{ type: "function", name: "f" }], tool_choice: "required" }, []).body
        .tool_choice,
      "required"
    )
  })

  it("maps text.format, reasoning.effort, max_output_tokens, stream and the fields both APIs share", () => {
    const { body, dropped } = fromResponsesRequest({
      model: "gpt-5",
      input: "Give JSON",
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } },
      reasoning: { effort: "low", summary: "auto" },
      max_output_tokens: 500,
      stream: true,
      temperature: 0.2,
      top_p: 0.9,
      parallel_tool_calls: false,
      user: "u-1",
      service_tier: "flex",
      prompt_cache_key: "k",
      safety_identifier: "s",
      store: false,
      metadata: { a: "b" },
      top_logprobs: 2
    }, [])
    assert.deepEqual(body, {
      model: "gpt-5",
      messages: [{ role: "user", content: "Give JSON" }],
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", schema: { type: "object" }, strict: true }
      },
      reasoning_effort: "low",
      max_tokens: 500,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      top_p: 0.9,
      parallel_tool_calls: false,
      user: "u-1",
      service_tier: "flex",
      prompt_cache_key: "k",
      safety_identifier: "s"
    })
    assert.deepEqual(dropped, ["top_logprobs"])
    assert.deepEqual(
      fromResponsesRequest({ input: "x", text: { format: { type: "json_object" } } }, []).body.response_format,
      { type: "json_object" }
    )
    assert.equal(
      fromResponsesRequest({ input: "x", text: { format: { type: "text" } } }, []).body.response_format,
      undefined
    )
  })

  it("continues a stored conversation after the new instructions, which are never carried over", () => {
    const history = [{ role: "user", content: "My name is Ada." }, { role: "assistant", content: "Hello, Ada." }]
    const { body, turns } = fromResponsesRequest({
      model: "gpt-5",
      instructions: "Be terse.",
      previous_response_id: "resp_1",
      input: "What is my name?"
    }, history)
    assert.deepEqual(body.messages, [
      { role: "system", content: "Be terse." },
      ...history,
      { role: "user", content: "What is my name?" }
    ])
    assert.deepEqual(turns, [{ role: "user", content: "What is my name?" }], "what a later request continues")
  })
})
