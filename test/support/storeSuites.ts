import { Effect, Exit } from "effect"
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { ExactStore } from "../../core/cache/exact/ExactStore.ts"
import type { SharedSemanticEntry, SharedSemanticStore } from "../../core/cache/semantic/RedisSemanticStore.ts"
import { eventually } from "./eventually.ts"

// The cases every cache backend must pass, run once per backend (unstorage's `testDriver` pattern): a new backend
// is a file in core/cache plus one `testExactStore` / `testSemanticStore` call.

export interface Backend<S> {
  readonly store: S
  readonly close: () => Promise<void>
  /** True when the store reads the test's clock (given to `make`); else time is its own (Redis expires keys itself). */
  readonly onTestClock?: boolean
}

/** A clock the test moves by hand, for stores that take one. */
export interface TestClock {
  readonly now: () => number
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
/** Keys unique to one test run, so backends shared between files never see each other's entries. */
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`

const SHORT_TTL_MS = 300

/** An L1a store: `make(ttlMs, clock)` builds a store whose entries live `ttlMs`, on `clock` where it can. */
export const testExactStore = (
  name: string,
  make: (ttlMs: number, clock: TestClock) => Promise<Backend<ExactStore>>
) =>
  describe(`exact store: ${name}`, () => {
    let time = 1_000_000
    const clock: TestClock = { now: () => time }
    let backend: Backend<ExactStore>
    let shortLived: Backend<ExactStore>
    before(async () => {
      backend = await make(60_000, clock)
      shortLived = await make(SHORT_TTL_MS, clock)
    })
    after(async () => {
      await backend.close()
      await shortLived.close()
    })

    it("returns what was set, and nothing for a key never set", async () => {
      const key = unique("roundtrip")
      assert.equal(await run(backend.store.get(key)), undefined)
      await run(backend.store.set(key, { check: "c1", completion: "{\"answer\":1}" }))
      assert.deepEqual(await run(backend.store.get(key)), { check: "c1", completion: "{\"answer\":1}" })
    })

    it("keeps the second digest and the answer exactly, unicode and large answers included", async () => {
      const key = unique("exact")
      const completion = JSON.stringify({ text: "Grüße — 你好 — 🙂 — \u0000 — ".repeat(2_000) })
      await run(backend.store.set(key, { check: "ffffffffffffffff", completion }))
      const entry = await run(backend.store.get(key))
      assert.equal(entry?.completion, completion)
      assert.equal(entry?.check, "ffffffffffffffff")
    })

    it("replaces an entry set again under the same key", async () => {
      const key = unique("replace")
      await run(backend.store.set(key, { check: "a", completion: "first" }))
      await run(backend.store.set(key, { check: "b", completion: "second" }))
      assert.deepEqual(await run(backend.store.get(key)), { check: "b", completion: "second" })
    })

    it("counts its entries", async () => {
      const before = await run(backend.store.size)
      for (const n of [1, 2, 3]) await run(backend.store.set(unique(`count-${n}`), { check: "c", completion: "x" }))
      assert.equal(await run(backend.store.size), before + 3)
    })

    it("keeps an entry until its TTL has passed, and forgets it then", async () => {
      const { store, onTestClock } = shortLived
      let key = ""
      // Read back before the TTL has passed. On the test's clock no time passes until it is moved; on the store's
      // own clock a set-and-read slower than the TTL (a loaded machine) proves nothing either way, so it is tried
      // again with a new key.
      for (let attempt = 1;; attempt++) {
        key = unique("ttl")
        const started = Date.now()
        await run(store.set(key, { check: "c", completion: "short-lived" }))
        const read = await run(store.get(key))
        if (onTestClock || Date.now() - started < SHORT_TTL_MS) {
          assert.equal(read?.completion, "short-lived")
          break
        }
        assert.ok(attempt < 5, `five set-and-read round trips each took longer than the ${SHORT_TTL_MS} ms TTL`)
      }
      if (onTestClock) {
        time += SHORT_TTL_MS - 1
        assert.equal((await run(store.get(key)))?.completion, "short-lived", "still there 1 ms before its TTL")
        time += 2
        assert.equal(await run(store.get(key)), undefined)
      } else {
        await eventually(async () => (await run(store.get(key))) === undefined, { what: "the entry to expire" })
      }
    })
  })

const entry = (text: string): SharedSemanticEntry => ({
  scope: "tenant|openai|gpt-4o-mini",
  text,
  completion: JSON.stringify({ answer: text }),
  vector: Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + text.length))
})

/** A store of L1b entries shared by replicas: what one replica puts, another loads, hears of and can check. */
export const testSemanticStore = (name: string, make: () => Promise<Backend<SharedSemanticStore["Service"]>>) =>
  describe(`shared semantic store: ${name}`, () => {
    let writer: Backend<SharedSemanticStore["Service"]>
    let reader: Backend<SharedSemanticStore["Service"]>
    before(async () => {
      writer = await make()
      reader = await make()
    })
    after(async () => {
      await writer.close()
      await reader.close()
    })

    it("stores an entry that every replica loads whole, vector included", async () => {
      const id = unique("loaded")
      await run(writer.store.put(id, entry("How do I reset my password?")))
      assert.equal(await run(reader.store.exists(id)), true)
      const loaded = new Map(await reader.store.loadAll())
      const found = loaded.get(id)
      assert.ok(found, "the other replica loads it")
      assert.equal(found.text, "How do I reset my password?")
      assert.equal(found.scope, "tenant|openai|gpt-4o-mini")
      assert.deepEqual([...found.vector], [...entry("How do I reset my password?").vector])
    })

    it("tells the other replicas of a new entry until they unsubscribe", async () => {
      const heard: Array<string> = []
      const unsubscribe = reader.store.onAdded((id, added) => heard.push(`${id}:${added.text}`))
      // A second listener on the same replica stays subscribed: once it has heard an entry, the first one would have.
      const witnessed: Array<string> = []
      const unsubscribeWitness = reader.store.onAdded((id) => witnessed.push(id))
      try {
        // A subscription connects in the background: announce (a new entry each time) until both hear.
        const announced: Array<string> = []
        await eventually(async () => {
          const id = unique("announced")
          announced.push(id)
          await run(writer.store.put(id, entry("first")))
          await new Promise((resolve) => setTimeout(resolve, 50))
          return heard.length > 0 && witnessed.length > 0
        }, { what: "both subscriptions to hear an announced entry", intervalMs: 0 })
        assert.ok(heard.every((line) => announced.includes(line.slice(0, -":first".length))), heard.join(", "))
        unsubscribe()
        const after = unique("after")
        await run(writer.store.put(after, entry("after")))
        await eventually(() => witnessed.includes(after), { what: "the listener still subscribed to hear the entry" })
        assert.deepEqual(
          heard.filter((line) => !announced.some((id) => line === `${id}:first`)),
          [],
          "nothing put after unsubscribing is heard"
        )
      } finally {
        unsubscribeWitness()
      }
    })

    it("says an entry never stored does not exist", async () => {
      assert.equal(await run(reader.store.exists(unique("missing"))), false)
    })

    it("fails a call with LayerUnavailable, never a defect, once its connection is gone", async () => {
      const gone = await make()
      await gone.close()
      const exit = await Effect.runPromiseExit(gone.store.exists("anything"))
      assert.ok(Exit.isFailure(exit))
      const failure = Exit.findErrorOption(exit)
      assert.equal(failure._tag === "Some" ? failure.value._tag : "defect", "LayerUnavailable")
    })
  })
