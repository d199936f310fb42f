import { Deferred, Effect, Fiber, Layer } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { Budgets } from "../../core/budgets/Budgets.ts"
import { ExactCache } from "../../core/cache/exact/ExactCache.ts"
import type { ExactEntry, ExactStore } from "../../core/cache/exact/ExactStore.ts"
import { SemanticCache } from "../../core/cache/semantic/SemanticCache.ts"
import { AppConfig, loadConfig } from "../../core/config/Config.ts"
import { chatRequest } from "../../core/domain/ChatRequest.ts"
import type { Completion } from "../../core/domain/Completion.ts"
import { CacheWrites } from "../../core/pipeline/CacheWrites.ts"
import { Coalescer } from "../../core/pipeline/Coalescer.ts"
import { Upstream } from "../../core/pipeline/Upstream.ts"
import { Provider } from "../../core/providers/Provider.ts"

// Coalescing across the cache write: an identical request that arrives after the upstream answered but before L1a
// holds the answer (a Redis write in flight) follows the first one; it never makes a second upstream call.

const completion: Completion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }]
}

/**
 * An L1a whose writes the test holds (a slow Redis): a write says it has started, then waits for `release`; in
 * memory otherwise.
 */
const heldStore = (writeStarted: Deferred.Deferred<void>, release: Deferred.Deferred<void>) => {
  const entries = new Map<string, ExactEntry>()
  const store: ExactStore = {
    backend: "held",
    get: (key) => Effect.sync(() => entries.get(key)),
    set: (key, entry) =>
      Deferred.succeed(writeStarted, undefined).pipe(
        Effect.andThen(Deferred.await(release)),
        Effect.andThen(Effect.sync(() => void entries.set(key, entry)))
      ),
    size: Effect.sync(() => entries.size),
    remove: (key) => Effect.sync(() => entries.delete(key)),
    list: Effect.sync(() => [...entries.entries()])
  }
  return { store, entries }
}

const upstreamWith = (calls: { count: number }, store: ExactStore) => {
  const provider = Layer.succeed(
    Provider,
    {
      id: "fake",
      configured: true,
      chain: ["fake"],
      complete: () => Effect.sync(() => calls.count++).pipe(Effect.as({ value: completion, provider: "fake" })),
      stream: () => Effect.die("not streamed here"),
      countTokens: undefined,
      speaksResponses: () => false,
      responses: () => Effect.die("no Responses here"),
      embed: () => Effect.die("not embedded here"),
      status: Effect.succeed([])
    } satisfies Provider["Service"]
  )
  return Upstream.layer.pipe(
    Layer.provideMerge(CacheWrites.layer),
    Layer.provideMerge(Layer.unwrap(Effect.map(
      loadConfig({ env: {}, readTextFile: async () => undefined }).pipe(Effect.orDie),
      (loaded) => AppConfig.layer(loaded.config)
    ))),
    Layer.provideMerge(Layer.mergeAll(
      provider,
      Coalescer.layer,
      Budgets.layerNone,
      Layer.succeed(ExactCache, ExactCache.make(store)),
      SemanticCache.layerDisabled("disabled", "test")
    ))
  )
}

describe("Upstream coalescing and the cache write", () => {
  it("holds identical requests on the first one until L1a has its answer", async () => {
    const calls = { count: 0 }
    const request = chatRequest("openai", { messages: [{ role: "user", content: "hello" }] }, "m", false, {
      defaultModel: "m",
      tenant: "t",
      cacheRead: true,
      cacheWrite: true
    })
    const key = { key: "k", check: "c" }
    const writeStarted = Deferred.makeUnsafe<void>()
    const release = Deferred.makeUnsafe<void>()
    const { store, entries } = heldStore(writeStarted, release)
    const layers = await Effect.runPromise(
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const first = yield* Effect.forkChild(upstream.call(request, key))
        // The upstream has answered and the L1a write is under way: now the identical request arrives.
        yield* Deferred.await(writeStarted)
        const second = yield* Effect.forkChild(upstream.call(request, key), { startImmediately: true })
        assert.equal(second.pollUnsafe(), undefined, "the second request waits while L1a is being written")
        assert.equal(entries.size, 0)
        yield* Deferred.succeed(release, undefined)
        const secondAnswer = yield* Fiber.join(second)
        assert.equal(entries.size, 1, "released only once L1a holds the answer")
        return [(yield* Fiber.join(first)).layer, secondAnswer.layer]
      }).pipe(Effect.provide(upstreamWith(calls, store)), Effect.scoped)
    )
    assert.deepEqual(layers, ["l3", "l3"])
    assert.equal(calls.count, 1)
  })
})
