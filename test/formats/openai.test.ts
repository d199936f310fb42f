import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { textOf, untranslatableTools } from "../../core/formats/openai.ts"

describe("the canonical (Chat Completions) form", () => {
  it("reads a message's text from a string or its text parts, other parts left out", () => {
    assert.equal(textOf("plain"), "plain")
    assert.equal(
      textOf([{ type: "text", text: "a" }, { type: "image_url", image_url: { url: "x" } }, {
        type: "text",
        text: "b"
      }]),
      "ab"
    )
    assert.equal(textOf(null), "")
    assert.equal(textOf([{ type: "text", text: 5 }]), "")
  })

  it("names the tools a provider with its own tool format cannot be sent", () => {
    const fn = { type: "function", function: { name: "f", parameters: { type: "object" } } }
    assert.equal(untranslatableTools({ tools: [fn], tool_choice: "auto" }, "gemini"), undefined)
    assert.equal(
      untranslatableTools({ tools: [fn], tool_choice: { type: "function", function: { name: "f" } } }, "gemini"),
      undefined
    )
    assert.equal(untranslatableTools({}, "gemini"), undefined)
    assert.equal(
      untranslatableTools({ tools: [fn, { type: "custom", custom: { name: "grammar" } }] }, "anthropic"),
      "tools[1]: only function tools can be sent to anthropic"
    )
    assert.equal(
      untranslatableTools({ tools: [{ type: "function", function: {} }] }, "gemini"),
      "tools[0]: only function tools can be sent to gemini"
    )
    assert.equal(
      untranslatableTools(
        { tools: [fn], tool_choice: { type: "allowed_tools", allowed_tools: { mode: "auto" } } },
        "gemini"
      ),
      "tool_choice: only \"auto\", \"required\", \"none\" or a named function can be sent to gemini"
    )
  })
})
