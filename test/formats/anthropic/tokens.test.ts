import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { estimateInputTokens } from "../../../core/formats/anthropic/tokens.ts"

const body = (messages: Array<unknown>, extra: Record<string, unknown> = {}) => ({
  model: "claude-sonnet-4-5",
  messages,
  ...extra
})

describe("count_tokens estimate", () => {
  it("counts text, adds a few tokens a turn, and counts system prompt and tools", async () => {
    const one = await estimateInputTokens(body([{ role: "user", content: "Hello, world" }]))
    assert.ok(one > 4 && one < 12, `${one}`)
    const two = await estimateInputTokens(
      body([{ role: "user", content: "Hello, world" }, { role: "assistant", content: "Hi" }])
    )
    assert.ok(two > one + 4, "a second turn counts its text and its framing")
    const withSystem = await estimateInputTokens(
      body([{ role: "user", content: "Hello, world" }], { system: [{ type: "text", text: "Be brief and exact." }] })
    )
    assert.ok(withSystem > one)
    const withTools = await estimateInputTokens(
      body([{ role: "user", content: "Hello, world" }], {
        tools: [{ name: "weather", description: "Weather", input_schema: { type: "object" } }]
      })
    )
    assert.ok(withTools > one)
  })

  it("counts tool use and tool results, and an image at its largest cost, not its bytes", async () => {
    const text = await estimateInputTokens(body([{ role: "user", content: [{ type: "text", text: "Look" }] }]))
    const image = await estimateInputTokens(body([{
      role: "user",
      content: [{ type: "text", text: "Look" }, {
        type: "image",
        source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=".repeat(1000) }
      }]
    }]))
    // Claude's largest image cost (a screenshot), whatever the base64's length: an undercount would let a client
    // that sizes its context by this count overflow it.
    assert.ok(Math.abs(image - text - 1600) <= 1, `the image's base64 is not read as text: ${text} → ${image}`)
    const inResult = await estimateInputTokens(body([{
      role: "user",
      content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: { type: "base64" } }] }]
    }]))
    assert.ok(inResult >= 1600, "a screenshot a tool returned counts too")
    const tools = await estimateInputTokens(body([
      { role: "assistant", content: [{ type: "tool_use", id: "t", name: "weather", input: { city: "Paris" } }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "eighteen degrees" }] }
    ]))
    assert.ok(tools > 2 * 4 + 4, `${tools}`)
  })

  it("reads a special token as text, and estimates a huge body without refusing it", async () => {
    assert.ok(await estimateInputTokens(body([{ role: "user", content: "<|endoftext|>" }])) > 4)
    const small = await estimateInputTokens(body([{ role: "user", content: "word ".repeat(10_000) }]))
    const large = await estimateInputTokens(body([{ role: "user", content: "word ".repeat(100_000) }]))
    assert.ok(large > small * 8 && large < small * 12, `${small} → ${large}`)
  })
})
