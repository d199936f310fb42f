import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"

const keys = await Effect.runPromise(CacheKey.pipe(Effect.provide(CacheKey.layer)))

const base = {
  model: "gpt-4o-mini",
  temperature: 0.2,
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello." },
    { role: "user", content: "What is 2+2?" }
  ],
  tools: [{ type: "function", function: { name: "add", parameters: { type: "object", properties: {} } } }]
}

const request = (body: Record<string, unknown>, overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  family: "openai",
  body,
  messages: body.messages as ChatRequest["messages"],
  model: String(body.model),
  stream: body.stream === true,
  tenant: "tenant-a|",
  cacheRead: true,
  cacheWrite: true,
  ...overrides
})

const keyOf = (body: Record<string, unknown>, overrides: Partial<ChatRequest> = {}) =>
  keys.exactKey(request(body, overrides)).key

describe("exact-cache key", () => {
  const original = keyOf(base)

  it("changes when anything that changes the answer changes", () => {
    const variants: Record<string, Record<string, unknown>> = {
      tools: { ...base, tools: [] },
      temperature: { ...base, temperature: 0.3 },
      model: { ...base, model: "gpt-4o" },
      "system prompt": {
        ...base,
        messages: [{ role: "system", content: "You are verbose." }, ...base.messages.slice(1)]
      },
      "an earlier turn": {
        ...base,
        messages: [base.messages[0], { role: "user", content: "Hey" }, ...base.messages.slice(2)]
      },
      "top_p": { ...base, top_p: 0.5 },
      "max_tokens": { ...base, max_tokens: 10 },
      stop: { ...base, stop: ["\n"] },
      seed: { ...base, seed: 1 },
      n: { ...base, n: 2 },
      tool_choice: { ...base, tool_choice: "none" },
      response_format: { ...base, response_format: { type: "json_object" } },
      "content parts": {
        ...base,
        messages: [...base.messages.slice(0, 3), { role: "user", content: [{ type: "text", text: "What is 2+2?" }] }]
      }
    }
    for (const [what, body] of Object.entries(variants)) assert.notEqual(keyOf(body), original, what)
  })

  it("ignores JSON key order", () => {
    const reordered = {
      tools: [{ function: { parameters: { properties: {}, type: "object" }, name: "add" }, type: "function" }],
      messages: base.messages.map(({ role, content }) => ({ content, role })),
      temperature: 0.2,
      model: "gpt-4o-mini"
    }
    assert.equal(keyOf(reordered), original)
  })

  it("is the same for a streamed and a plain request", () => {
    assert.equal(keyOf({ ...base, stream: true, stream_options: { include_usage: true } }), original)
  })

  it("differs between tenants and between endpoint families", () => {
    assert.notEqual(keyOf(base, { tenant: "tenant-b|" }), original)
    assert.notEqual(keyOf(base, { tenant: "tenant-a|session-1" }), original)
    assert.notEqual(keyOf(base, { family: "native" }), original)
  })

  it("carries a second, independent digest for verification", () => {
    const key = keys.exactKey(request(base))
    assert.match(key.key, /^[0-9a-f]{16}$/)
    assert.match(key.check, /^[0-9a-f]{16}$/)
    assert.notEqual(key.key, key.check)
  })

  it("hashes a caller's secret into a tag that does not contain it", () => {
    const tag = keys.hashSecret("sk-very-secret-key")
    assert.ok(!tag.includes("secret"))
    assert.equal(tag, keys.hashSecret("sk-very-secret-key"))
    assert.notEqual(tag, keys.hashSecret("sk-very-secret-kez"))
  })
})

describe("the headers that change an answer, in the exact key", () => {
  const anthropicBody = { model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: "Hi" }] }
  const anthropic = (headers: Record<string, string>, body: Record<string, unknown> = anthropicBody) =>
    request(body, {
      family: "anthropic",
      tenant: "t|",
      source: { format: "anthropic", text: JSON.stringify(body), body, headers }
    })
  const openai = (headers: Record<string, string>) => {
    const body = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }
    return request(body, { tenant: "t|", source: { format: "openai", text: JSON.stringify(body), body, headers } })
  }

  it("keeps the key a request without them always had", () => {
    // Pinned: entries already stored (in Redis, say) still answer after the header set was introduced.
    assert.equal(keys.exactKey(openai({})).key, "2d9902242e58cfee")
    assert.equal(keys.exactKey(anthropic({})).key, "2a9d1bc2d6df55cc")
    assert.equal(keys.exactKey(anthropic({ "openai-project": "proj_1" })).key, "2a9d1bc2d6df55cc")
    // Anthropic's headers sent to an OpenAI route reach no Anthropic upstream as sent: they change nothing.
    assert.equal(keys.exactKey(openai({ "anthropic-beta": "b", "anthropic-version": "v" })).key, "2d9902242e58cfee")
  })

  it("differs by anthropic-beta and by anthropic-version", () => {
    const seen = new Set([
      keys.exactKey(anthropic({})).key,
      keys.exactKey(anthropic({ "anthropic-beta": "context-management-2025-06-27" })).key,
      keys.exactKey(anthropic({ "anthropic-beta": "prompt-caching-2024-07-31" })).key,
      keys.exactKey(anthropic({ "anthropic-version": "2023-06-01" })).key,
      keys.exactKey(anthropic({ "anthropic-version": "2023-01-01" })).key,
      keys.exactKey(anthropic({ "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31" })).key
    ])
    assert.equal(seen.size, 6)
  })

  it("never takes a body field of the same name for the header", () => {
    const withField = { ...anthropicBody, "anthropic-beta": "prompt-caching-2024-07-31" }
    assert.notEqual(
      keys.exactKey(anthropic({}, withField)).key,
      keys.exactKey(anthropic({ "anthropic-beta": "prompt-caching-2024-07-31" })).key
    )
  })
})
