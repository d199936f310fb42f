// Malformed bodies on the three chat routes: each is a 400 in the client's own error format naming the field, is
// never sent upstream, and never crashes the gateway (500) or reaches a provider as a retried 502. Shapes a client
// may legitimately send beside them still pass.
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { fakeUpstreamGateway } from "../support/gateway.ts"

const file = fakeUpstreamGateway({ env: { ISARTOR__L3_MAX_RETRIES: "0" } })

const post = async (path: string, body: string) => {
  const response = await file.gateway.gateway.fetch(
    new Request(`http://gateway.test${path}`, { method: "POST", body, headers: { "content-type": "application/json" } })
  )
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
const user = (content: unknown) => ({ role: "user", content })
const openai = (fields: Record<string, unknown>) => JSON.stringify({ messages: [user("hi")], ...fields })
const toolTurn = (assistant: Record<string, unknown>, then: Record<string, unknown> = user("go on")) =>
  JSON.stringify({ messages: [user("hi"), { role: "assistant", ...assistant }, then] })
const anthropic = (fields: Record<string, unknown>) =>
  JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [user("hi")], ...fields })
const blocks = (...content: Array<unknown>) => anthropic({ messages: [user(content)] })
const afterToolUse = (toolUse: Record<string, unknown>) => {
  const assistant = { role: "assistant", content: [{ type: "tool_use", ...toolUse }] }
  return anthropic({ messages: [user("hi"), assistant, user("go on")] })
}
const evil = { toString: 1 }

const parts = (...content: Array<unknown>) => JSON.stringify({ messages: [user(content)] })
const toolResult = (fields: Record<string, unknown>) =>
  JSON.stringify({ messages: [user("hi"), { role: "tool", tool_call_id: "c1", content: "x", ...fields }] })
const callOf = (fn: unknown) => {
  const call = { id: "c1", type: "function", ...(fn === undefined ? {} : { function: fn }) }
  return { content: null, tool_calls: [call] }
}
const withDeep = (prefix: string, field: string, depth: number) => `${prefix},"${field}":${nested(depth)}}`
const OPENAI_HEAD = `{"messages":[{"role":"user","content":"hi"}]`
const ANTHROPIC_HEAD = `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]`

/** [what, body, the field the error must name] */
const openaiCases: Array<[string, string, string]> = [
  ["a text part whose text is an object", parts({ type: "text", text: evil }), "messages[0].content[0].text"],
  ["a text part whose text is a number", parts({ type: "text", text: 42 }), "messages[0].content[0].text"],
  ["a text part without text", parts({ type: "text" }), "messages[0].content[0].text"],
  ["a null content part", parts(null), "messages[0].content[0]"],
  ["a content part without a type", parts({ text: "hi" }), "messages[0].content[0].type"],
  ["image_url without url", parts({ type: "image_url", image_url: {} }), "messages[0].content[0].image_url.url"],
  ["an image_url part without image_url", parts({ type: "image_url" }), "messages[0].content[0].image_url"],
  ["a null message", JSON.stringify({ messages: [null] }), "messages[0]"],
  ["tool_calls that is a string", toolTurn({ content: null, tool_calls: "x" }), "messages[1].tool_calls"],
  [
    "tool call arguments that are an object",
    toolTurn(callOf({ name: "f", arguments: {} })),
    "messages[1].tool_calls[0].function.arguments"
  ],
  ["a tool call without function", toolTurn(callOf(undefined)), "messages[1].tool_calls[0].function"],
  ["a tool result whose content is a number", toolResult({ content: 5 }), "messages[1].content"],
  ["a tool_call_id that is a number", toolResult({ tool_call_id: 5 }), "messages[1].tool_call_id"],
  ["a function tool without function", openai({ tools: [{ type: "function" }] }), "tools[0].function"],
  ["a tool whose function is a string", openai({ tools: [{ type: "function", function: "f" }] }), "tools[0].function"],
  ["tool_choice naming no function", openai({ tool_choice: { type: "function" } }), "tool_choice.function"],
  ["stop that is a number", openai({ stop: 5 }), "stop"],
  ["an unknown field nested 5,000 deep", withDeep(OPENAI_HEAD, "extra", 5000), "extra"],
  ["an unknown field nested 3,000 deep", withDeep(OPENAI_HEAD, "extra", 3000), "extra"],
  ["tools nested 129 deep", withDeep(OPENAI_HEAD, "tools", 128), "tools"]
]

const image = (source: unknown) => blocks({ type: "image", ...(source === undefined ? {} : { source }) })
const resultBlock = (content: unknown) => blocks({ type: "tool_result", tool_use_id: "t1", content })

const anthropicCases: Array<[string, string, string]> = [
  ["an image block without source", image(undefined), "messages[0].content[0].source"],
  ["an image source that is a string", image("x"), "messages[0].content[0].source"],
  [
    "base64 image data that is a number",
    image({ type: "base64", media_type: "image/png", data: 5 }),
    "messages[0].content[0].source.data"
  ],
  ["a text block whose text is an object", blocks({ type: "text", text: evil }), "messages[0].content[0].text"],
  ["a null block", blocks(null), "messages[0].content[0]"],
  ["tool_use without input", afterToolUse({ id: "t1", name: "f" }), "messages[1].content[0].input"],
  ["tool_use whose id is a number", afterToolUse({ id: 5, name: "f", input: {} }), "messages[1].content[0].id"],
  ["tool_result content that is a number", resultBlock(5), "messages[0].content[0].content"],
  ["tool_result content that is an object", resultBlock(evil), "messages[0].content[0].content"],
  ["a null block in tool_result content", resultBlock([null]), "messages[0].content[0].content[0]"],
  [
    "a tool_result text whose text is an object",
    resultBlock([{ type: "text", text: evil }]),
    "messages[0].content[0].content[0].text"
  ],
  ["a system block whose text is an object", anthropic({ system: [{ type: "text", text: evil }] }), "system[0].text"],
  ["tool_choice of a tool without its name", anthropic({ tool_choice: { type: "tool" } }), "tool_choice.name"],
  ["stop_sequences that is a string", anthropic({ stop_sequences: "END" }), "stop_sequences"],
  ["an unknown field nested 5,000 deep", withDeep(ANTHROPIC_HEAD, "extra", 5000), "extra"]
]

const nativeCases: Array<[string, string, string]> = [
  ["a prompt that is an object", JSON.stringify({ prompt: evil }), "prompt"],
  ["a prompt that is null", JSON.stringify({ prompt: null }), "prompt"],
  ["an unknown field nested 5,000 deep", withDeep(`{"prompt":"hi"`, "extra", 5000), "extra"]
]

describe("malformed bodies", () => {
  it("on /v1/chat/completions: a 400 in OpenAI's format whose param names the field", async () => {
    const callsBefore = file.upstream.calls.length
    for (const [what, body, field] of openaiCases) {
      const { status, body: error } = await post("/v1/chat/completions", body)
      assert.equal(status, 400, what)
      const { message, type, param } = (error as { error: { message: string; type: string; param: string } }).error
      assert.equal(type, "invalid_request_error", what)
      assert.equal(param, field, what)
      assert.ok(message.startsWith(`${field}: `), `${what}: ${message}`)
    }
    assert.equal(file.upstream.calls.length, callsBefore, "no malformed body reached the upstream")
  })

  it("on /v1/messages: a 400 in Anthropic's format whose message names the field", async () => {
    const callsBefore = file.upstream.calls.length
    for (const [what, body, field] of anthropicCases) {
      const { status, body: error } = await post("/v1/messages", body)
      assert.equal(status, 400, what)
      assert.equal(error.type, "error", what)
      const { type, message } = error.error as { type: string; message: string }
      assert.equal(type, "invalid_request_error", what)
      assert.ok(message.startsWith(`${field}: `), `${what}: ${message}`)
    }
    assert.equal(file.upstream.calls.length, callsBefore, "no malformed body reached the upstream")
  })

  it("on /api/chat: a 400 whose param names the field", async () => {
    for (const [what, body, field] of nativeCases) {
      const { status, body: error } = await post("/api/chat", body)
      assert.equal(status, 400, what)
      assert.equal((error as { error: { param: string } }).error.param, field, what)
    }
  })

  it("bounds nesting at 128 levels, root included", async () => {
    const atLimit = await post("/v1/chat/completions", withDeep(OPENAI_HEAD.replace("hi", "deep"), "x", 127))
    assert.equal(atLimit.status, 200)
    const rootArray = await post("/v1/chat/completions", nested(200))
    assert.equal(rootArray.status, 400)
    const { message } = (rootArray.body as { error: { message: string } }).error
    assert.match(message, /request body nests .* more than 128 levels deep/)
  })
})

describe("unusual but valid shapes", () => {
  it("still pass: other kinds of parts and blocks, empty tool input, text tool results, a deep schema", async () => {
    let schema: Record<string, unknown> = { type: "string" }
    for (let level = 0; level < 30; level++) schema = { type: "object", properties: { inner: schema } }
    const cases: Array<[string, string, string]> = [
      ["/v1/chat/completions", "an input_audio part", parts({ type: "text", text: "hi" }, { type: "input_audio" })],
      [
        "/v1/chat/completions",
        "a tool with a 60-level schema",
        openai({ tools: [{ type: "function", function: { name: "f", parameters: schema } }] })
      ],
      [
        "/v1/chat/completions",
        "a tool call and its result",
        toolTurn(callOf({ name: "f", arguments: "{}" }), { role: "tool", tool_call_id: "c1", content: "42" })
      ],
      [
        "/v1/messages",
        "a thinking block",
        anthropic({
          messages: [
            user("hi"),
            {
              role: "assistant",
              content: [{ type: "thinking", thinking: "hm", signature: "s" }, { type: "text", text: "ok" }]
            },
            user("and?")
          ]
        })
      ],
      [
        "/v1/messages",
        "tool_use with empty input, then its text result",
        anthropic({
          messages: [
            user("hi"),
            { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "f", input: {} }] },
            user([{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "42" }] }])
          ]
        })
      ],
      [
        "/v1/messages",
        "a url image",
        blocks({ type: "text", text: "what?" }, { type: "image", source: { type: "url", url: "https://a.test/a" } })
      ]
    ]
    for (const [path, what, body] of cases) assert.equal((await post(path, body)).status, 200, what)
  })
})
