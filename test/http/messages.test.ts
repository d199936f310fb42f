import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { fakeUpstreamGateway, type RunningGateway } from "../support/gateway.ts"

// `/v1/messages` as current clients use it: Claude Code 2.x sends several system blocks and system turns in the
// middle of `messages`; the Anthropic SDK reads a streamed answer's input tokens from `message_delta`.

const viaOpenAIFile = fakeUpstreamGateway({ env: { ISARTOR__CACHE_MODE: "exact" } })
const viaAnthropicFile = fakeUpstreamGateway((upstream) => ({
  env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__EXTERNAL_LLM_URL: upstream.url, ISARTOR__CACHE_MODE: "exact" }
}), { kind: "providers" })

const claudeCodeBody = (question: string) => ({
  model: "claude-sonnet-4-5",
  max_tokens: 1024,
  system: [
    {
      type: "text",
      text: "You are Claude Code, Anthropic's official CLI for Claude.",
      cache_control: { type: "ephemeral" }
    },
    { type: "text", text: "Answer concisely." }
  ],
  messages: [
    { role: "user", content: [{ type: "text", text: "Hello" }] },
    { role: "assistant", content: [{ type: "text", text: "Hi! How can I help?" }] },
    { role: "system", content: "<system-reminder>The working directory is /repo.</system-reminder>" },
    { role: "user", content: [{ type: "text", text: question, cache_control: { type: "ephemeral" } }] }
  ]
})

const post = (gateway: RunningGateway, body: unknown) =>
  fetch(`${gateway.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "caller" },
    body: JSON.stringify(body)
  })

describe("/v1/messages with Claude Code 2.x's request shape", () => {
  it("accepts system turns mid-conversation and several system blocks (OpenAI-format upstream)", async () => {
    const response = await post(viaOpenAIFile.gateway, claudeCodeBody("What is 2+2?"))
    assert.equal(response.status, 200, await response.clone().text())
    const answer = (await response.json()) as { type: string; content: Array<{ type: string; text: string }> }
    assert.equal(answer.type, "message")
    const sent = viaOpenAIFile.upstream.calls.at(-1)!.body.messages as Array<{ role: string; content: unknown }>
    assert.deepEqual(sent.map((message) => message.role), ["system", "user", "assistant", "system", "user"])
    assert.equal(sent[0]!.content, "You are Claude Code, Anthropic's official CLI for Claude.\n\nAnswer concisely.")
    assert.equal(sent[3]!.content, "<system-reminder>The working directory is /repo.</system-reminder>")
  })

  it("passes them through unchanged when the upstream speaks Anthropic: the same bytes, the client's beta header", async () => {
    const body = JSON.stringify(claudeCodeBody("What is 3+3?"))
    const response = await fetch(`${viaAnthropicFile.gateway.url}/v1/messages`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "mid-conversation-system-2026-01-01,prompt-caching-2024-07-31",
        "x-api-key": "caller"
      },
      body
    })
    assert.equal(response.status, 200, await response.clone().text())
    const sent = viaAnthropicFile.upstream.calls.at(-1)!
    assert.equal(sent.raw, body)
    assert.equal(sent.headers["anthropic-beta"], "mid-conversation-system-2026-01-01,prompt-caching-2024-07-31")
    assert.equal(sent.headers["x-api-key"], viaAnthropicFile.upstream.apiKey)
  })

  it("still names the field of a role no API knows", async () => {
    const response = await post(viaOpenAIFile.gateway, {
      ...claudeCodeBody("x"),
      messages: [{ role: "robot", content: "beep" }]
    })
    assert.equal(response.status, 400)
    const body = (await response.json()) as { type: string; error: { type: string; message: string } }
    assert.equal(body.type, "error")
    assert.match(body.error.message, /messages\[0\]\.role/)
  })
})

describe("streamed /v1/messages usage", () => {
  it("reports input tokens to the Anthropic SDK, on a miss and on a cached replay", async () => {
    const client = new Anthropic({ apiKey: "caller", baseURL: viaOpenAIFile.gateway.url, maxRetries: 0 })
    const ask = () =>
      client.messages.stream({
        model: "claude-sonnet-4-5",
        max_tokens: 100,
        messages: [{ role: "user", content: "Count my tokens" }]
      })
        .withResponse()
    for (const layer of ["l3", "l1a"]) {
      const { data: stream, response } = await ask()
      const message = await stream.finalMessage()
      assert.equal(response.headers.get("x-isartor-layer"), layer)
      assert.equal(message.usage.input_tokens, 9, `${layer}: the upstream's prompt tokens`)
      assert.ok(message.usage.output_tokens > 0)
    }
  })
})

describe("POST /v1/messages/count_tokens", () => {
  const countWith = (gateway: RunningGateway) =>
    new Anthropic({ apiKey: "caller", baseURL: gateway.url, maxRetries: 0 }).messages.countTokens({
      model: "claude-sonnet-4-5",
      system: "You are terse.",
      messages: [{ role: "user", content: "How many tokens is this question?" }]
    }).withResponse()

  it("asks an Anthropic upstream for its own count, with the client's body", async () => {
    const { data, response } = await countWith(viaAnthropicFile.gateway)
    const call = viaAnthropicFile.upstream.calls.at(-1)!
    assert.equal(call.path, "/v1/messages/count_tokens")
    assert.equal(call.body.system, "You are terse.")
    assert.equal(response.headers.get("x-isartor-token-count"), "provider")
    assert.equal(data.input_tokens, 7 + JSON.stringify(call.body).split(/\s+/).length)
  })

  it("estimates for an upstream without one, says so, and counts more for a longer request", async () => {
    const { data, response } = await countWith(viaOpenAIFile.gateway)
    assert.equal(response.headers.get("x-isartor-token-count"), "estimate")
    assert.ok(data.input_tokens > 10 && data.input_tokens < 40, `estimate ${data.input_tokens}`)
    const longer = await new Anthropic({ apiKey: "caller", baseURL: viaOpenAIFile.gateway.url, maxRetries: 0 }).messages
      .countTokens({
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "How many tokens is this question? ".repeat(50) }]
      })
    assert.ok(longer.input_tokens > 5 * data.input_tokens)
  })

  it("estimates text that looks like a tokenizer's special tokens, and a body of the largest size, as text", async () => {
    const client = new Anthropic({ apiKey: "caller", baseURL: viaOpenAIFile.gateway.url, maxRetries: 0 })
    const special = await client.messages.countTokens({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "What does <|endoftext|> or <|im_start|> mean?" }]
    })
    assert.ok(special.input_tokens > 5)
    const huge = await client.messages.countTokens({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "lorem ipsum dolor sit amet ".repeat(100_000) }]
    })
    assert.ok(huge.input_tokens > 400_000 && huge.input_tokens < 800_000, `estimate ${huge.input_tokens}`)
  })

  it("answers a malformed body with a 400 naming the field, in Anthropic's format", async () => {
    const response = await fetch(`${viaOpenAIFile.gateway.url}/v1/messages/count_tokens`, {
      method: "POST",
      body: JSON.stringify({ model: "m", messages: [{ role: "user", content: [{ type: "image" }] }] })
    })
    assert.equal(response.status, 400)
    const body = (await response.json()) as { type: string; error: { message: string } }
    assert.equal(body.type, "error")
    assert.match(body.error.message, /messages\[0\]\.content\[0\]/)
  })
})
