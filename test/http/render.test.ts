import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { Answer } from "../../core/domain/Answer.ts"
import { sharedHeadersRenderer } from "../../core/http/exactHitLane.ts"
import { renderAnswer } from "../../core/http/render.ts"

// Bun and Deno send an exact hit with one Headers per answer and age, copied by each Response: what a client
// receives must be what renderAnswer sends, and no response may change another's headers.

const completion = JSON.stringify({
  id: "chatcmpl-1",
  object: "chat.completion",
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Paris." }, finish_reason: "stop" }]
})
const hit = (created: number): Extract<Answer, { _tag: "Complete" }> => ({
  _tag: "Complete",
  layer: "l1a",
  completion,
  cacheKey: "l1a_0123456789abcdef",
  created
})
const chat = { family: "openai", model: "gpt-4o-mini", stream: false } as const
/** Everything a client receives: status, every header, the body. */
const received = async (response: Response) => ({
  status: response.status,
  headers: [...response.headers].sort(([a], [b]) => a.localeCompare(b)),
  body: await response.text()
})

describe("exact hits with shared headers", () => {
  it("send what renderAnswer sends; a response's own headers stay its own; age follows the clock", async () => {
    const render = sharedHeadersRenderer()
    assert.notEqual(render, renderAnswer, "Node's own Response copies the Headers it is given: shared")
    const now = Date.parse("2026-12-07T10:00:00Z")
    const created = now - 5_000
    const first = render(chat, hit(created), now)
    assert.deepEqual(await received(first), await received(renderAnswer(chat, hit(created), now)))
    first.headers.set("x-isartor-trace-id", "0af7651916cd43dd8448eb211c80319c")
    const second = render(chat, hit(created), now)
    assert.equal(second.headers.get("x-isartor-trace-id"), null, "one response's header is not the next one's")
    assert.equal(second.headers.get("age"), "5")
    assert.equal(render(chat, hit(created - 60_000), now).headers.get("age"), "65")
    assert.equal(render(chat, hit(created), now + 30_000).headers.get("age"), "35", "the same answer, later")
    assert.equal(
      render(chat, { ...hit(created), cacheKey: "l1a_fedcba9876543210" }, now).headers.get("x-isartor-cache-key"),
      "l1a_fedcba9876543210"
    )
    // Other formats and layers are rendered as before.
    const anthropic = { family: "anthropic", model: "claude", stream: false } as const
    assert.deepEqual(
      await received(render(anthropic, hit(created), now)),
      await received(renderAnswer(anthropic, hit(created), now))
    )
    const l1b: Answer = { ...hit(created), layer: "l1b", similarity: 0.97 }
    assert.deepEqual(await received(render(chat, l1b, now)), await received(renderAnswer(chat, l1b, now)))
  })

  it("are not shared where a Response keeps the Headers it is given (as @hono/node-server's does)", () => {
    const original = globalThis.Response
    class Keeping {
      readonly headers: Headers
      constructor(_body: unknown, init: { headers: Headers }) {
        this.headers = init.headers
      }
    }
    globalThis.Response = Keeping as unknown as typeof Response
    try {
      assert.equal(sharedHeadersRenderer(), renderAnswer)
    } finally {
      globalThis.Response = original
    }
  })
})
