import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { makeFirstLevelKeys } from "../../../core/cache/exact/FirstLevelKeys.ts"

const known = (key: string) => ({ key: { key, check: key }, model: "m", stream: true })
/** A coding agent's body: a long history, each request differing from the last only near its end, or its middle. */
const agentBody = (middle: string, end: string) =>
  JSON.stringify({
    messages: [{ content: "a".repeat(40_000) }, { content: middle }, { content: "b".repeat(40_000) }, end]
  })

describe("first-level keys", () => {
  it("finds a large body seen before under its scope, and no other body or scope", () => {
    const keys = makeFirstLevelKeys({ maxEntries: 100, maxChars: 10_000_000 })
    keys.set("s", agentBody("x", "turn 1"), known("k1"))
    assert.equal(keys.get("s", agentBody("x", "turn 1"))?.key.key, "k1")
    assert.equal(keys.get("s", agentBody("x", "turn 2")), undefined, "another last turn")
    assert.equal(keys.get("s", agentBody("y", "turn 1")), undefined, "the same ends, another middle")
    assert.equal(keys.get("t", agentBody("x", "turn 1")), undefined, "another scope")
  })

  it("never answers a body with the key of another that shares its ends", () => {
    const keys = makeFirstLevelKeys({ maxEntries: 100, maxChars: 10_000_000 })
    keys.set("s", agentBody("x", "turn 1"), known("k1"))
    keys.set("s", agentBody("y", "turn 1"), known("k2"))
    assert.equal(keys.get("s", agentBody("y", "turn 1"))?.key.key, "k2")
    assert.notEqual(keys.get("s", agentBody("x", "turn 1"))?.key.key, "k2")
  })

  it("keeps small bodies apart by their whole text", () => {
    const keys = makeFirstLevelKeys({ maxEntries: 100, maxChars: 10_000_000 })
    keys.set("s", "{\"q\":1}", known("k1"))
    assert.equal(keys.get("s", "{\"q\":1}")?.key.key, "k1")
    assert.equal(keys.get("s", "{\"q\":2}"), undefined)
  })

  it("finds a large body kept as bytes by its bytes, compared whole", () => {
    const keys = makeFirstLevelKeys({ maxEntries: 100, maxChars: 10_000_000 })
    const bytes = (middle: string, end: string) => new TextEncoder().encode(agentBody(middle, end))
    keys.set("s", bytes("x", "turn 1"), known("k1"))
    assert.equal(keys.get("s", bytes("x", "turn 1"))?.key.key, "k1")
    assert.equal(keys.get("s", bytes("x", "turn 2")), undefined, "another last turn")
    assert.equal(keys.get("s", bytes("y", "turn 1")), undefined, "the same ends, another middle")
    assert.equal(keys.get("t", bytes("x", "turn 1")), undefined, "another scope")
  })
})
