import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { BoundedMemo } from "../../core/memory/BoundedMemo.ts"

describe("BoundedMemo", () => {
  it("keeps what it is given until a new key would not fit, then forgets everything else", () => {
    const memo = new BoundedMemo<string, number>(2)
    assert.equal(memo.set("a", 1), 1)
    memo.set("b", 2)
    memo.set("a", 3) // a key it holds is replaced, not counted again
    assert.equal(memo.get("a"), 3)
    assert.equal(memo.get("b"), 2)
    memo.set("c", 4)
    assert.equal(memo.get("a"), undefined)
    assert.equal(memo.get("b"), undefined)
    assert.equal(memo.get("c"), 4, "the key that did not fit is kept")
  })

  it("bounds what its keys weigh together, and keeps no key heavier than the bound", () => {
    const memo = new BoundedMemo<string, true>(100, 10, (key) => key.length)
    memo.set("12345", true)
    memo.set("1234", true)
    assert.equal(memo.get("12345"), true)
    memo.set("123", true) // 5 + 4 + 3 > 10
    assert.equal(memo.get("12345"), undefined)
    assert.equal(memo.get("123"), true)
    memo.set("this key is too heavy", true)
    assert.equal(memo.get("this key is too heavy"), undefined)
    assert.equal(memo.get("123"), true, "a key too heavy to keep forgets nothing")
  })

  it("gives back a deleted key's weight", () => {
    const memo = new BoundedMemo<string, true>(100, 10, (key) => key.length)
    memo.set("123456", true)
    assert.equal(memo.delete("123456"), true)
    assert.equal(memo.delete("123456"), false)
    memo.set("abcd", true)
    memo.set("efghij", true) // fits only because the deleted key's weight was given back
    assert.equal(memo.get("abcd"), true)
  })
})
