import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { completionToSse } from "../../core/domain/Completion.ts"
import { fromGeminiResponse, geminiStreamToOpenAI } from "../../core/formats/gemini.ts"
import { fromGeminiRequest, jsonSchemaOf } from "../../core/formats/gemini/request.ts"
import { toGeminiResponse } from "../../core/formats/gemini/response.ts"
import { openAIStreamToGemini } from "../../core/formats/gemini/stream.ts"

// Gemini's API as a client speaks it to the gateway: requests into the canonical form, answers back out.

const events = async (stream: ReadableStream<Uint8Array>) =>
  (await new Response(stream).text()).split("\r\n\r\n").filter((event) => event !== "").map((event) => {
    assert.ok(event.startsWith("data: "), event)
    return JSON.parse(event.slice(6)) as Record<string, any>
  })

const sse = (chunks: ReadonlyArray<unknown>, done = true) =>
  new Response(chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join("") + (done ? "data: [DONE]\n\n" : ""))
    .body!

describe("a Gemini request in the canonical form", () => {
  it("keeps the system instruction, the turns, function calls and their responses, matched by name", () => {
    const body = fromGeminiRequest(
      {
        systemInstruction: { parts: [{ text: "Be brief." }] },
        contents: [
          { role: "user", parts: [{ text: "Weather?" }] },
          {
            role: "model",
            parts: [
              { text: "Let me see.", thought: true },
              { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "sig-1" }
            ]
          },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { output: "sunny" } } }] }
        ]
      },
      "gemini-2.5-pro",
      false
    )
    assert.deepEqual(body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: null,
        reasoning_content: "Let me see.",
        tool_calls: [{
          id: "call_0",
          type: "function",
          function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
          extra_content: { google: { thought_signature: "sig-1" } }
        }]
      },
      { role: "tool", tool_call_id: "call_0", content: "sunny" }
    ])
    assert.equal(body.model, "gemini-2.5-pro")
    assert.equal(body.stream, undefined)
  })

  it("maps images, the tool config and the generation config, responseSchema as JSON Schema", () => {
    const body = fromGeminiRequest(
      {
        contents: [{ parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: "AAAA" } }] }],
        tools: [{ functionDeclarations: [{ name: "f", parametersJsonSchema: { type: "object" } }] }],
        toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["f"] } },
        generationConfig: {
          temperature: 0.2,
          maxOutputTokens: 50,
          stopSequences: ["END"],
          responseMimeType: "application/json",
          responseSchema: { type: "OBJECT", properties: { n: { type: "INTEGER", nullable: true } } }
        }
      },
      "m",
      true
    )
    assert.deepEqual(body.messages, [{
      role: "user",
      content: [
        { type: "text", text: "What is this?" },
        { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }
      ]
    }])
    assert.deepEqual(body.tool_choice, { type: "function", function: { name: "f" } })
    assert.deepEqual(body.tools, [{ type: "function", function: { name: "f", parameters: { type: "object" } } }])
    assert.equal(body.temperature, 0.2)
    assert.equal(body.max_tokens, 50)
    assert.deepEqual(body.stop, ["END"])
    assert.deepEqual(body.response_format, {
      type: "json_schema",
      json_schema: {
        name: "response",
        schema: { type: "object", properties: { n: { type: ["integer", "null"] } } }
      }
    })
    assert.deepEqual(body.stream_options, { include_usage: true })
  })

  it("turns Gemini's schema types into JSON Schema's, deep in arrays and properties", () => {
    assert.deepEqual(
      jsonSchemaOf({ type: "ARRAY", items: { type: "OBJECT", properties: { a: { type: "STRING", enum: ["X"] } } } }),
      { type: "array", items: { type: "object", properties: { a: { type: "string", enum: ["X"] } } } }
    )
  })
})

/** A Gemini provider's answer with thoughts, thought signatures and a function call. */
const upstream = {
  responseId: "r-1",
  modelVersion: "gemini-2.5-pro",
  candidates: [{
    index: 0,
    finishReason: "STOP",
    content: {
      role: "model",
      parts: [
        { text: "Thinking it over.", thought: true },
        { text: "Calling.", thoughtSignature: "sig-text" },
        { functionCall: { name: "f", args: { a: 1 } }, thoughtSignature: "sig-call" }
      ]
    }
  }],
  usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, thoughtsTokenCount: 6, totalTokenCount: 20 }
}

describe("a Gemini provider's answer, back to a Gemini client", () => {
  it("keeps thoughts apart from the answer, and every thought signature, whole", () => {
    const completion = fromGeminiResponse(upstream, "gemini-2.5-pro")
    assert.equal(completion.choices[0]!.message.content, "Calling.")
    assert.equal(completion.choices[0]!.message.reasoning_content, "Thinking it over.")
    assert.deepEqual(toGeminiResponse(completion), {
      candidates: [{
        content: {
          role: "model",
          parts: [
            { text: "Thinking it over.", thought: true },
            { text: "Calling.", thoughtSignature: "sig-text" },
            { functionCall: { name: "f", args: { a: 1 } }, thoughtSignature: "sig-call" }
          ]
        },
        finishReason: "STOP",
        index: 0
      }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, totalTokenCount: 20, thoughtsTokenCount: 6 },
      modelVersion: "gemini-2.5-pro",
      responseId: "r-1"
    })
  })

  it("keeps them in a stream too: thoughts and text as they come, calls whole, the usage last", async () => {
    const translate = geminiStreamToOpenAI("gemini-2.5-pro", true)
    const chunks = [...translate.onEvent(JSON.stringify(upstream)), ...translate.onEnd()]
    const out = await events(openAIStreamToGemini(sse(chunks)))
    const parts = out.flatMap((event) => event.candidates.flatMap((candidate: any) => candidate.content.parts))
    assert.deepEqual(parts.filter((part: any) => part.thought), [{ text: "Thinking it over.", thought: true }])
    assert.equal(
      parts.filter((part: any) => part.text && !part.thought).map((part: any) => part.text).join(""),
      "Calling."
    )
    assert.deepEqual(parts.filter((part: any) => part.functionCall), [
      { functionCall: { name: "f", args: { a: 1 } }, thoughtSignature: "sig-call" }
    ])
    assert.equal(out.at(-1)!.candidates[0].finishReason, "STOP")
    assert.equal(out.at(-1)!.usageMetadata.thoughtsTokenCount, 6)
  })
})

describe("the pipeline's stream as Gemini's SSE", () => {
  it("assembles a call's arguments streamed in pieces into one functionCall", async () => {
    const head = { id: "c", model: "m", object: "chat.completion.chunk" }
    const out = await events(openAIStreamToGemini(sse([
      { ...head, choices: [{ index: 0, delta: { role: "assistant", content: "" } }] },
      {
        ...head,
        choices: [{
          index: 0,
          delta: { tool_calls: [{ index: 0, id: "t", function: { name: "f", arguments: "{\"a\":" } }] }
        }]
      },
      { ...head, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "2}" } }] } }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }
    ])))
    assert.deepEqual(out, [{
      candidates: [{
        content: { role: "model", parts: [{ functionCall: { name: "f", args: { a: 2 } } }] },
        finishReason: "STOP",
        index: 0
      }],
      modelVersion: "m",
      responseId: "c"
    }])
  })

  it("ends a stream that breaks off with one error event, Google's shape", async () => {
    const head = { id: "c", model: "m", object: "chat.completion.chunk" }
    const out = await events(
      openAIStreamToGemini(sse([{ ...head, choices: [{ index: 0, delta: { content: "Hal" } }] }], false))
    )
    assert.equal(out.length, 2)
    assert.equal(out[0]!.candidates[0].content.parts[0].text, "Hal")
    assert.equal(out[1]!.error.status, "UNAVAILABLE")
    assert.match(out[1]!.error.message, /ended before the answer was finished/)
  })

  it("ends at an error chunk with that error, Google's shape, and nothing after it", async () => {
    const head = { id: "c", model: "m", object: "chat.completion.chunk" }
    const out = await events(openAIStreamToGemini(sse([
      { ...head, choices: [{ index: 0, delta: { content: "Hal" } }] },
      { error: { message: "the upstream is overloaded", type: "server_error" } },
      { ...head, choices: [{ index: 0, delta: { content: "lo" } }] }
    ])))
    assert.equal(out.length, 2)
    assert.equal(out[1]!.error.status, "UNAVAILABLE")
    assert.equal(out[1]!.error.message, "the upstream is overloaded")
  })

  it("replays a cached answer as the same events a live one gives", async () => {
    const completion = fromGeminiResponse(upstream, "gemini-2.5-pro")
    const out = await events(openAIStreamToGemini(completionToSse(completion)))
    assert.equal(out.at(-1)!.candidates[0].finishReason, "STOP")
    assert.equal(out.at(-1)!.usageMetadata.promptTokenCount, 10)
  })
})
