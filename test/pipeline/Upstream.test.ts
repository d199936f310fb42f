import { Effect, Fiber, Layer } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
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

/** An L1a whose writes take `writeMs` (a slow Redis), in memory otherwise. */
const slowStore = (writeMs: number): ExactStore => {
  const entries = new Map<string, ExactEntry>()
  return {
    backend: "slow",
    get: (key) => Effect.sync(() => entries.get(key)),
    set: (key, entry) => Effect.sleep(writeMs).pipe(Effect.andThen(Effect.sync(() => void entries.set(key, entry)))),
    size: Effect.sync(() => entries.size),
    remove: (key) => Effect.sync(() => entries.delete(key)),
    list: Effect.sync(() => [...entries.entries()])
  }
}

const upstreamWith = (calls: { count: number }) => {
  const provider = Layer.succeed(
    Provider,
    {
      id: "fake",
      configured: true,
      chain: ["fake"],
      complete: () =>
        Effect.sync(() => calls.count++).pipe(
          Effect.andThen(Effect.sleep(20)),
          Effect.as({ value: completion, provider: "fake" })
        ),
      stream: () => Effect.die("not streamed here"),
      countTokens: undefined,
      responses: undefined,
      embed: () => Effect.die("not embedded here")
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
      Layer.succeed(ExactCache, ExactCache.make(slowStore(60))),
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
    const layers = await Effect.runPromise(
      Effect.gen(function*() {
        const upstream = yield* Upstream
        const first = yield* Effect.forkChild(upstream.call(request, key))
        // The upstream has answered (20 ms) and the L1a write (60 ms) is under way.
        yield* Effect.sleep(40)
        const second = yield* upstream.call(request, key)
        return [(yield* Fiber.join(first)).layer, second.layer]
      }).pipe(Effect.provide(upstreamWith(calls)), Effect.scoped)
    )
    assert.deepEqual(layers, ["l3", "l3"])
    assert.equal(calls.count, 1)
  })
})
