import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { fromGeminiResponse, geminiStreamToOpenAI, toGeminiRequest } from "../../core/formats/gemini.ts"

describe("OpenAI request → Gemini generateContent", () => {
  it("sends system messages as systemInstruction, assistant as model, and merges consecutive turns", () => {
    assert.deepEqual(
      toGeminiRequest({
        model: "gemini-2.5-flash",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "developer", content: "Answer in French." },
          { role: "user", content: "Capital of France?" },
          { role: "user", content: [{ type: "text", text: "One word." }] },
          { role: "assistant", content: "Paris." },
          { role: "user", content: "Italy?" }
        ]
      }),
      {
        contents: [
          { role: "user", parts: [{ text: "Capital of France?" }, { text: "One word." }] },
          { role: "model", parts: [{ text: "Paris." }] },
          { role: "user", parts: [{ text: "Italy?" }] }
        ],
        systemInstruction: { parts: [{ text: "Be brief.\n\nAnswer in French." }] }
      }
    )
  })

  it("sends a data-URL image inline and any other URL as fileData", () => {
    const request = toGeminiRequest({
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "What is this?" },
          { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } },
          { type: "image_url", image_url: { url: "gs://bucket/cat.png" } }
        ]
      }]
    })
    assert.deepEqual(request.contents, [{
      role: "user",
      parts: [
        { text: "What is this?" },
        { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQ" } },
        { fileData: { fileUri: "gs://bucket/cat.png" } }
      ]
    }])
  })

  it("turns tools, tool calls and tool results into declarations, functionCall and functionResponse", () => {
    const request = toGeminiRequest({
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: "call_0_0",
            type: "function",
            function: { name: "weather", arguments: "{\"city\":\"Paris\"}" }
          }]
        },
        { role: "tool", tool_call_id: "call_0_0", content: "{\"celsius\":18}" },
        { role: "tool", tool_call_id: "unknown", content: "sunny" }
      ],
      tools: [{
        type: "function",
        function: { name: "weather", description: "Weather", parameters: { type: "object", properties: {} } }
      }],
      tool_choice: { type: "function", function: { name: "weather" } }
    })
    assert.deepEqual(request.contents, [
      { role: "user", parts: [{ text: "Weather?" }] },
      { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }] },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "weather", response: { celsius: 18 } } },
          { functionResponse: { name: "unknown", response: { content: "sunny" } } }
        ]
      }
    ])
    assert.deepEqual(request.tools, [{
      functionDeclarations: [{
        name: "weather",
        description: "Weather",
        parameters: { type: "object", properties: {} }
      }]
    }])
    assert.deepEqual(request.toolConfig, {
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] }
    })
  })

  it("maps tool_choice required and none, and leaves auto to Gemini's default", () => {
    const config = (tool_choice: unknown) => toGeminiRequest({ messages: [], tool_choice }).toolConfig
    assert.deepEqual(config("required"), { functionCallingConfig: { mode: "ANY" } })
    assert.deepEqual(config("none"), { functionCallingConfig: { mode: "NONE" } })
    assert.equal(config("auto"), undefined)
  })

  it("puts sampling fields, stop, n, seed and JSON mode in generationConfig", () => {
    assert.deepEqual(
      toGeminiRequest({
        messages: [],
        temperature: 0.4,
        top_p: 0.9,
        max_tokens: 100,
        max_completion_tokens: 200,
        stop: "END",
        n: 2,
        seed: 7,
        response_format: { type: "json_object" }
      }).generationConfig,
      {
        temperature: 0.4,
        topP: 0.9,
        maxOutputTokens: 200,
        stopSequences: ["END"],
        candidateCount: 2,
        seed: 7,
        responseMimeType: "application/json"
      }
    )
    assert.equal(toGeminiRequest({ messages: [{ role: "user", content: "x" }] }).generationConfig, undefined)
  })
})

describe("Gemini response → chat.completion", () => {
  it("joins text parts and maps finish reason and usage", () => {
    const read = fromGeminiResponse({
      responseId: "resp-1",
      modelVersion: "gemini-2.5-flash-001",
      candidates: [{
        index: 0,
        content: { role: "model", parts: [{ text: "Par" }, { text: "is." }] },
        finishReason: "STOP"
      }],
      usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 2, totalTokenCount: 10 }
    }, "gemini-2.5-flash")
    assert.equal(read.id, "resp-1")
    assert.equal(read.model, "gemini-2.5-flash-001")
    assert.deepEqual(read.choices, [{
      index: 0,
      message: { role: "assistant", content: "Paris." },
      finish_reason: "stop"
    }])
    assert.deepEqual(read.usage, { prompt_tokens: 8, completion_tokens: 2, total_tokens: 10 })
  })

  it("turns functionCall parts into tool_calls with content null and finish_reason tool_calls", () => {
    const read = fromGeminiResponse({
      candidates: [{
        content: {
          parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }, { functionCall: { name: "now" } }]
        },
        finishReason: "STOP"
      }]
    }, "gemini-2.5-flash")
    assert.equal(read.model, "gemini-2.5-flash")
    assert.deepEqual(read.choices[0], {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_0_0", type: "function", function: { name: "weather", arguments: "{\"city\":\"Paris\"}" } },
          { id: "call_0_1", type: "function", function: { name: "now", arguments: "{}" } }
        ]
      },
      finish_reason: "tool_calls"
    })
  })

  it("maps MAX_TOKENS to length and the safety reasons to content_filter", () => {
    const finish = (finishReason: string) =>
      fromGeminiResponse({ candidates: [{ content: { parts: [{ text: "x" }] }, finishReason }] }, "g")
        .choices[0]!.finish_reason
    assert.equal(finish("MAX_TOKENS"), "length")
    for (const reason of ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"]) {
      assert.equal(finish(reason), "content_filter", reason)
    }
    assert.equal(finish("OTHER"), "stop")
  })

  it("counts a thinking model's thoughts in completion_tokens, as OpenAI counts reasoning", () => {
    // Gemini 2.5 thinks by default: its thoughts are billed output, apart from candidatesTokenCount, and in the total.
    const read = fromGeminiResponse({
      candidates: [{ content: { parts: [{ text: "42" }] }, finishReason: "STOP" }],
      usageMetadata: {
        promptTokenCount: 10,
        candidatesTokenCount: 2,
        thoughtsTokenCount: 30,
        cachedContentTokenCount: 4,
        totalTokenCount: 42
      }
    }, "gemini-2.5-pro")
    assert.deepEqual(read.usage, {
      prompt_tokens: 10,
      completion_tokens: 32,
      total_tokens: 42,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 30 }
    })
  })

  it("answers a prompt Gemini blocked with one content_filter choice, not an empty choices list", () => {
    // Without candidates an OpenAI SDK's `completion.choices[0].message` throws in the client.
    const read = fromGeminiResponse({
      promptFeedback: { blockReason: "SAFETY" },
      usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 }
    }, "gemini-2.5-flash")
    assert.deepEqual(read.choices, [{
      index: 0,
      message: { role: "assistant", content: "" },
      finish_reason: "content_filter"
    }])
  })
})

const streamOf = (events: Array<Record<string, unknown>>, includeUsage = true) => {
  const translate = geminiStreamToOpenAI("gemini-2.5-flash", includeUsage)
  return [...events.flatMap((event) => translate.onEvent(JSON.stringify(event))), ...translate.onEnd()] as Array<
    Record<string, any>
  >
}
const deltas = (chunks: Array<Record<string, any>>) =>
  chunks.flatMap((chunk) =>
    (chunk.choices ?? []).map((choice: any) => [choice.index, choice.delta, choice.finish_reason])
  )

describe("Gemini stream → OpenAI chunks", () => {
  it("opens with the role, streams text, finishes, and ends with usage when asked", () => {
    const chunks = streamOf([
      { responseId: "r1", candidates: [{ content: { parts: [{ text: "Hel" }] } }] },
      {
        candidates: [{ content: { parts: [{ text: "lo" }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 }
      }
    ])
    assert.deepEqual(deltas(chunks), [
      [0, { role: "assistant", content: "" }, null],
      [0, { content: "Hel" }, null],
      [0, { content: "lo" }, null],
      [0, {}, "stop"]
    ])
    assert.ok(chunks.every((chunk) => chunk.id === "r1" && chunk.object === "chat.completion.chunk"))
    assert.deepEqual(chunks.at(-1)!.choices, [])
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })
    assert.ok(
      streamOf([{ candidates: [{ content: { parts: [{ text: "x" }] }, finishReason: "STOP" }] }], false)
        .every((chunk) => chunk.usage === undefined)
    )
  })

  it("numbers tool calls across events and finishes with tool_calls", () => {
    const chunks = streamOf([
      { candidates: [{ content: { parts: [{ functionCall: { name: "a", args: {} } }] } }] },
      { candidates: [{ content: { parts: [{ functionCall: { name: "b", args: { x: 1 } } }] }, finishReason: "STOP" }] }
    ], false)
    assert.deepEqual(deltas(chunks).slice(1), [
      [
        0,
        { tool_calls: [{ index: 0, id: "call_0_0", type: "function", function: { name: "a", arguments: "{}" } }] },
        null
      ],
      [0, {
        tool_calls: [{ index: 1, id: "call_0_1", type: "function", function: { name: "b", arguments: "{\"x\":1}" } }]
      }, null],
      [0, {}, "tool_calls"]
    ])
  })

  it("keeps candidates apart by their index", () => {
    const chunks = streamOf([{
      candidates: [
        { index: 0, content: { parts: [{ text: "A" }] }, finishReason: "STOP" },
        { index: 1, content: { parts: [{ text: "B" }] }, finishReason: "MAX_TOKENS" }
      ]
    }], false)
    assert.deepEqual(deltas(chunks), [
      [0, { role: "assistant", content: "" }, null],
      [0, { content: "A" }, null],
      [0, {}, "stop"],
      [1, { role: "assistant", content: "" }, null],
      [1, { content: "B" }, null],
      [1, {}, "length"]
    ])
  })

  it("turns an error event into an error chunk", () => {
    assert.deepEqual(streamOf([{ error: { code: 429, message: "Resource exhausted" } }], false), [
      { error: { message: "Resource exhausted", type: "upstream_error" } }
    ])
  })
})
