import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { ExactCache } from "../../../core/cache/exact/ExactCache.ts"
import { exactEntryBytes, makeMemoryExactStore } from "../../../core/cache/exact/MemoryExactStore.ts"

const key = (n: number) => ({ key: `key-${n}`, check: `check-${n}` })

const lookup = (cache: ExactCache["Service"], n: number) =>
  Effect.runPromise(cache.lookup(key(n)).pipe(Effect.catchTag("CacheMiss", () => Effect.succeed(undefined))))

describe("ExactCache (memory)", () => {
  it("returns what was stored under the same key", async () => {
    const cache = ExactCache.make(makeMemoryExactStore({ maxEntries: 10, maxBytes: 1_000_000, ttlMs: 60_000 }))
    await Effect.runPromise(cache.store(key(1), "answer one"))
    assert.equal(await lookup(cache, 1), "answer one")
    assert.equal(await lookup(cache, 2), undefined)
  })

  it("never serves an entry whose second digest differs (a 64-bit collision)", async () => {
    const store = makeMemoryExactStore({ maxEntries: 10, maxBytes: 1_000_000, ttlMs: 60_000 })
    const cache = ExactCache.make(store)
    await Effect.runPromise(store.set("key-1", { check: "some-other-request", completion: "wrong answer" }))
    assert.equal(await lookup(cache, 1), undefined)
  })

  it("holds at most cache_max_capacity entries, evicting the least recently used", async () => {
    const cache = ExactCache.make(makeMemoryExactStore({ maxEntries: 3, maxBytes: 1_000_000, ttlMs: 60_000 }))
    for (const n of [1, 2, 3]) await Effect.runPromise(cache.store(key(n), `answer ${n}`))
    assert.equal(await lookup(cache, 1), "answer 1") // 1 is now the most recently used
    await Effect.runPromise(cache.store(key(4), "answer 4"))
    assert.equal(await lookup(cache, 2), undefined, "the least recently used entry went")
    assert.equal(await lookup(cache, 1), "answer 1")
    assert.equal(await lookup(cache, 3), "answer 3")
    assert.equal(await lookup(cache, 4), "answer 4")
    const status = await Effect.runPromise(cache.status)
    assert.equal(status.entries, 3)
  })

  it("expires entries after cache_ttl_secs", async () => {
    let now = 1_000
    const cache = ExactCache.make(
      makeMemoryExactStore({ maxEntries: 10, maxBytes: 1_000_000, ttlMs: 300_000, now: () => now })
    )
    await Effect.runPromise(cache.store(key(1), "answer"))
    now += 299_000
    assert.equal(await lookup(cache, 1), "answer")
    now += 2_000
    assert.equal(await lookup(cache, 1), undefined)
    assert.equal((await Effect.runPromise(cache.status)).entries, 0)
  })

  it("holds at most cache_max_bytes of entries, evicting the least recently used, and says how much it holds", async () => {
    const answer = (n: number) => `${n}`.repeat(1_000)
    const perEntry = exactEntryBytes(key(1).key, { check: key(1).check, completion: answer(1) })
    const cache = ExactCache.make(makeMemoryExactStore({ maxEntries: 1_000, maxBytes: 3 * perEntry, ttlMs: 60_000 }))
    for (const n of [1, 2, 3, 4]) await Effect.runPromise(cache.store(key(n), answer(n)))
    assert.equal(await lookup(cache, 1), undefined, "the oldest entry made room")
    for (const n of [2, 3, 4]) assert.equal(await lookup(cache, n), answer(n))
    const status = await Effect.runPromise(cache.status)
    assert.equal(status.entries, 3)
    assert.equal(status.bytes, 3 * perEntry)
    assert.equal(status.max_bytes, 3 * perEntry)
  })

  it("does not keep an answer larger than the whole budget, and keeps what it held", async () => {
    const cache = ExactCache.make(makeMemoryExactStore({ maxEntries: 1_000, maxBytes: 10_000, ttlMs: 60_000 }))
    await Effect.runPromise(cache.store(key(1), "small answer"))
    await Effect.runPromise(cache.store(key(2), "x".repeat(20_000)))
    assert.equal(await lookup(cache, 2), undefined)
    assert.equal(await lookup(cache, 1), "small answer")
  })
})
