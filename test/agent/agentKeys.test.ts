import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"

const keys = await Effect.runPromise(CacheKey.pipe(Effect.provide(CacheKey.layer)))

/** A Claude Code turn as the gateway decodes it: an Anthropic source passed through. */
const turn = (sizeKb: number, last: string): ChatRequest => {
  const text = agentRequest("claude", sizeKb, last).body
  const body = JSON.parse(text) as Record<string, unknown>
  return {
    family: "anthropic",
    body,
    messages: [],
    model: String(body.model),
    stream: true,
    tenant: "anonymous|",
    cacheRead: true,
    cacheWrite: true,
    source: { format: "anthropic", text, body, headers: {} }
  }
}

describe("exact keys of coding agents' requests", () => {
  it("are the same for the same turn and differ by the last turn, at every size", () => {
    // Sizes each side of the buffer keys are encoded in, and a last turn in characters of more than one byte.
    for (const sizeKb of [64, 400, 1200]) {
      const first = keys.exactKey(turn(sizeKb, "step 1 — ünïcödé"))
      const other = keys.exactKey(turn(sizeKb, "step 2 — ünïcödé"))
      assert.notEqual(first.key, other.key, `${sizeKb} KB`)
      assert.notEqual(first.check, other.check, `${sizeKb} KB`)
      assert.deepEqual(keys.exactKey(turn(sizeKb, "step 1 — ünïcödé")), first, `${sizeKb} KB, asked again`)
    }
  })
})
