import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { FAKE_CACHE_USAGE, FAKE_THINKING, PROMPT_TOKENS } from "../support/fakeProviders.ts"
import { fakeUpstreamGateways } from "../support/gateway.ts"

// Same-format pass-through: an upstream that speaks the client's API receives the client's bytes and protocol
// headers (only the credential and, when mapped, the model change). Across formats, fields with a counterpart carry.

const running = fakeUpstreamGateways({
  openai: { env: { ISARTOR__LLM_PROVIDER: "openai", ISARTOR__CACHE_MODE: "exact" } },
  anthropic: { env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__CACHE_MODE: "exact" } }
}, { kind: "providers" })
const { gateways } = running

const send = (gateway: keyof typeof gateways, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${gateways[gateway].url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body
  })

/** An Anthropic body with what Claude Code and the current API send beyond the basics. */
const anthropicBody = (question: string, extra: Record<string, unknown> = {}) => ({
  model: "claude-sonnet-4-5",
  max_tokens: 4096,
  system: [{ type: "text", text: "Be exact.", cache_control: { type: "ephemeral", ttl: "1h" } }],
  messages: [{ role: "user", content: [{ type: "text", text: question, cache_control: { type: "ephemeral" } }] }],
  thinking: { type: "enabled", budget_tokens: 2048 },
  metadata: { user_id: "user_abc_account__session_1" },
  context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
  output_config: { effort: "high" },
  container: "container_123",
  mcp_servers: [{ type: "url", url: "https://mcp.example/sse", name: "example" }],
  ...extra
})

const anthropicHeaders = {
  "anthropic-version": "2023-06-01",
  "anthropic-beta": "context-management-2025-06-27",
  "x-api-key": "caller-key"
}

describe("Anthropic client, Anthropic upstream", () => {
  it("sends the client's bytes and its beta header, with the gateway's key", async () => {
    // Spacing and key order as a client might write them: they reach the upstream exactly so.
    const body = JSON.stringify(anthropicBody("bytes?"), null, 1)
    const response = await send("anthropic", "/v1/messages", body, anthropicHeaders)
    assert.equal(response.status, 200, await response.clone().text())
    const call = running.upstream.calls[0]!
    assert.equal(call.raw, body)
    assert.equal(call.headers["anthropic-beta"], "context-management-2025-06-27")
    assert.equal(call.headers["anthropic-version"], "2023-06-01")
    assert.equal(call.headers["x-api-key"], running.upstream.apiKey)
    assert.equal(call.headers.authorization, undefined)
  })

  it("streams the same bytes upstream", async () => {
    const body = JSON.stringify(anthropicBody("stream bytes?", { stream: true }))
    const response = await send("anthropic", "/v1/messages", body, anthropicHeaders)
    assert.match(await response.text(), /event: message_stop/)
    assert.equal(running.upstream.calls[0]!.raw, body)
  })

  it("keys the cache on what changes the answer: thinking and betas do, metadata does not", async () => {
    const ask = async (body: Record<string, unknown>, headers = anthropicHeaders) => {
      const response = await send("anthropic", "/v1/messages", JSON.stringify(body), headers)
      assert.equal(response.status, 200)
      return response.headers.get("x-isartor-layer")
    }
    assert.equal(await ask(anthropicBody("keyed")), "l3")
    assert.equal(await ask(anthropicBody("keyed", { metadata: { user_id: "user_abc_account__session_2" } })), "l1a")
    assert.equal(await ask(anthropicBody("keyed", { thinking: { type: "enabled", budget_tokens: 8000 } })), "l3")
    assert.equal(await ask(anthropicBody("keyed"), { ...anthropicHeaders, "anthropic-beta": "other-beta" }), "l3")
    assert.equal(running.upstream.calls.length, 3)
  })
})

describe("Anthropic answers come back whole: thinking with its signature, cache figures", () => {
  const client = () => new Anthropic({ apiKey: "caller-key", baseURL: gateways.anthropic!.url, maxRetries: 0 })
  const request = (question: string) => ({
    model: "claude-sonnet-4-5",
    max_tokens: 4096,
    thinking: { type: "enabled" as const, budget_tokens: 2048 },
    system: [{ type: "text" as const, text: "Be exact.", cache_control: { type: "ephemeral" as const } }],
    messages: [{ role: "user" as const, content: question }]
  })

  it("plain, then from L1a", async () => {
    for (const layer of ["l3", "l1a"]) {
      const { data, response } = await client().messages.create(request("think plainly")).withResponse()
      assert.equal(response.headers.get("x-isartor-layer"), layer)
      assert.deepEqual(data.content[0], FAKE_THINKING)
      assert.equal(data.content[1]?.type, "text")
      assert.equal(data.usage.input_tokens, PROMPT_TOKENS)
      assert.equal(data.usage.cache_read_input_tokens, FAKE_CACHE_USAGE.cache_read_input_tokens)
      assert.equal(data.usage.cache_creation_input_tokens, FAKE_CACHE_USAGE.cache_creation_input_tokens)
    }
  })

  it("streamed, then replayed from L1a", async () => {
    for (const layer of ["l3", "l1a"]) {
      const stream = client().messages.stream(request("think in a stream"))
      let startUsage: Anthropic.Usage | undefined
      stream.on("streamEvent", (event) => {
        if (event.type === "message_start") startUsage = event.message.usage
      })
      const message = await stream.finalMessage()
      // As from Anthropic: the input tokens are known at the start, live and replayed.
      assert.equal(startUsage?.input_tokens, PROMPT_TOKENS)
      assert.equal((await stream.withResponse()).response.headers.get("x-isartor-layer"), layer)
      assert.deepEqual(message.content[0], FAKE_THINKING)
      assert.equal(message.content[1]?.type, "text")
      assert.equal(message.usage.input_tokens, PROMPT_TOKENS)
      assert.equal(message.usage.cache_read_input_tokens, FAKE_CACHE_USAGE.cache_read_input_tokens)
    }
  })

  it("an OpenAI client of an Anthropic upstream reads the thinking as reasoning_content", async () => {
    const response = await send(
      "anthropic",
      "/v1/chat/completions",
      JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 4096,
        reasoning_effort: "low",
        messages: [{ role: "user", content: "reason for me" }]
      })
    )
    const completion = (await response.json()) as { choices: Array<{ message: Record<string, unknown> }> }
    assert.equal(completion.choices[0]!.message.reasoning_content, FAKE_THINKING.thinking)
  })
})

describe("OpenAI client, OpenAI upstream", () => {
  it("sends the client's bytes, organisation and project, with the gateway's key", async () => {
    const body = JSON.stringify({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "bytes?" }],
      logit_bias: { "50256": -100 },
      a_future_field: { nested: [1, 2.5, "x"] }
    })
    const response = await send("openai", "/v1/chat/completions", body, {
      authorization: "Bearer caller-key",
      "openai-organization": "org-123",
      "openai-project": "proj_456"
    })
    assert.equal(response.status, 200, await response.clone().text())
    const call = running.upstream.calls[0]!
    assert.equal(call.raw, body)
    assert.equal(call.headers["openai-organization"], "org-123")
    assert.equal(call.headers["openai-project"], "proj_456")
    assert.equal(call.headers.authorization, `Bearer ${running.upstream.apiKey}`)
  })

  it("fills in the model when the client named none, and changes nothing else", async () => {
    const body = { messages: [{ role: "user", content: "which model?" }], temperature: 0.2 }
    await send("openai", "/v1/chat/completions", JSON.stringify(body))
    assert.deepEqual(running.upstream.calls[0]!.body, { ...body, model: "gpt-4o-mini" })
  })
})

describe("across formats, fields with a counterpart carry", () => {
  it("Anthropic thinking and metadata.user_id become reasoning_effort and user for an OpenAI upstream", async () => {
    const response = await send("openai", "/v1/messages", JSON.stringify(anthropicBody("across?")), anthropicHeaders)
    assert.equal(response.status, 200, await response.clone().text())
    const sent = running.upstream.calls[0]!.body
    assert.equal(sent.reasoning_effort, "low")
    assert.equal(sent.user, "user_abc_account__session_1")
    assert.equal(sent.max_tokens, 4096)
  })

  it("server tools (one without a name) are accepted; only the client's own tools reach an OpenAI upstream", async () => {
    const tools = [
      { name: "lookup", description: "Looks up", input_schema: { type: "object", properties: {} } },
      { type: "web_search_20250305", name: "web_search", max_uses: 3 },
      { type: "mcp_toolset", mcp_server_name: "example" }
    ]
    for (const gateway of ["openai", "anthropic"] as const) {
      running.upstream.calls.length = 0
      const body = JSON.stringify(anthropicBody(`tools across (${gateway})`, { tools }))
      const response = await send(gateway, "/v1/messages", body, anthropicHeaders)
      assert.equal(response.status, 200, await response.clone().text())
      const sent = running.upstream.calls[0]!
      if (gateway === "anthropic") assert.equal(sent.raw, body)
      else {assert.deepEqual(
          (sent.body.tools as Array<{ function: { name: string } }>).map((tool) => tool.function.name),
          ["lookup"]
        )}
    }
  })

  it("OpenAI reasoning_effort and user become thinking and metadata for an Anthropic upstream", async () => {
    const body = {
      model: "claude-sonnet-4-5",
      max_tokens: 16000,
      temperature: 0.5,
      reasoning_effort: "medium",
      user: "user-42",
      messages: [{ role: "user", content: "across the other way?" }]
    }
    const response = await send("anthropic", "/v1/chat/completions", JSON.stringify(body))
    assert.equal(response.status, 200, await response.clone().text())
    const sent = running.upstream.calls[0]!.body
    assert.deepEqual(sent.thinking, { type: "enabled", budget_tokens: 8192 })
    assert.deepEqual(sent.metadata, { user_id: "user-42" })
    // Extended thinking takes no temperature.
    assert.equal(sent.temperature, undefined)
  })
})
