import { Effect, Exit } from "effect"
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { ExactStore } from "../../core/cache/exact/ExactStore.ts"
import type { SharedSemanticEntry, SharedSemanticStore } from "../../core/cache/semantic/RedisSemanticStore.ts"

// The cases every cache backend must pass, run once per backend (unstorage's `testDriver` pattern): a new backend
// is a file in core/cache plus one `testExactStore` / `testSemanticStore` call.

export interface Backend<S> {
  readonly store: S
  readonly close: () => Promise<void>
}

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Keys unique to one test run, so backends shared between files never see each other's entries. */
const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2)}`

/** An L1a store: `make(ttlMs)` builds a store whose entries live `ttlMs`. */
export const testExactStore = (name: string, make: (ttlMs: number) => Promise<Backend<ExactStore>>) =>
  describe(`exact store: ${name}`, () => {
    let backend: Backend<ExactStore>
    let shortLived: Backend<ExactStore>
    before(async () => {
      backend = await make(60_000)
      shortLived = await make(300)
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

    it("forgets an entry once its TTL has passed", async () => {
      const key = unique("ttl")
      await run(shortLived.store.set(key, { check: "c", completion: "short-lived" }))
      assert.equal((await run(shortLived.store.get(key)))?.completion, "short-lived")
      await sleep(600)
      assert.equal(await run(shortLived.store.get(key)), undefined)
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
      // A subscription connects in the background: announce until it is heard.
      const first = unique("announced")
      for (let attempt = 0; attempt < 40 && heard.length === 0; attempt++) {
        await run(writer.store.put(first, entry("first")))
        await sleep(50)
      }
      assert.ok(heard.includes(`${first}:first`), `heard: ${heard.join(", ")}`)
      unsubscribe()
      await sleep(100)
      heard.length = 0
      await run(writer.store.put(unique("after"), entry("after")))
      await sleep(300)
      assert.deepEqual(heard, [], "nothing is heard after unsubscribing")
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
