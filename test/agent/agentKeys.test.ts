import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"

const keys = await Effect.runPromise(CacheKey.pipe(Effect.provide(CacheKey.layer)))

/** A Claude Code turn as the gateway decodes it: an Anthropic source passed through. */
const turn = (sizeKb: number, last: string, asBytes = false, edit = (text: string) => text): ChatRequest => {
  const text = edit(agentRequest("claude", sizeKb, last).body)
  const body = JSON.parse(text) as Record<string, unknown>
  const received = asBytes ? { text, bytes: new TextEncoder().encode(text) } : undefined
  return {
    family: "anthropic",
    body,
    messages: [],
    model: String(body.model),
    stream: true,
    tenant: "anonymous|",
    cacheRead: true,
    cacheWrite: true,
    source: { format: "anthropic", text, body, headers: {}, received }
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

  it("made of the bytes a turn goes upstream as: the same in another session, streamed or not", () => {
    for (const sizeKb of [64, 400, 1200]) {
      const first = keys.exactKey(turn(sizeKb, "step 1 — ünïcödé", true))
      const otherSession = keys.exactKey(turn(sizeKb, "step 1 — ünïcödé", true, (text) => {
        const edited = text.replace("000000000001", "000000000002")
        assert.notEqual(edited, text)
        return edited
      }))
      const notStreamed = keys.exactKey(turn(sizeKb, "step 1 — ünïcödé", true, (text) => {
        const edited = text.replace(`"stream":true`, `"stream":false`)
        assert.notEqual(edited, text)
        return edited
      }))
      assert.deepEqual(otherSession, first, `${sizeKb} KB, another session`)
      assert.deepEqual(notStreamed, first, `${sizeKb} KB, not streamed`)
      assert.notEqual(keys.exactKey(turn(sizeKb, "step 2 — ünïcödé", true)).key, first.key, `${sizeKb} KB, next turn`)
      assert.notEqual(keys.exactKey({ ...turn(sizeKb, "step 1 — ünïcödé", true), tenant: "other|" }).key, first.key)
    }
  })

  it("made of the body again once a layer rewrites it, and never equal to a key made of bytes", () => {
    const sent = turn(164, "step 1", true)
    const rewritten = { ...sent, source: { ...sent.source!, text: JSON.stringify(sent.source!.body, null, 1) } }
    assert.equal(keys.exactKey(rewritten).key, keys.exactKey(turn(164, "step 1")).key)
    assert.notEqual(keys.exactKey(rewritten).key, keys.exactKey(sent).key)
  })
})
