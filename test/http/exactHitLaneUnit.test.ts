import { Context, Effect, Exit } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { ExactCache } from "../../core/cache/exact/ExactCache.ts"
import { makeMemoryExactStore } from "../../core/cache/exact/MemoryExactStore.ts"
import { loadConfig } from "../../core/config/Config.ts"
import { type ExactHitLaneDependencies, makeExactHitLane } from "../../core/http/exactHitLane.ts"
import { readReceived } from "../../core/http/middleware.ts"
import { Exchange } from "../../core/http/observability.ts"

// The property test (exactHitLane.test.ts) proves the lane answers what the app answers; this one pins that the lane
// does answer: a hit it knows is sent without the app, and everything else is the app's, the body handed on whole.

const completion = JSON.stringify({ id: "chatcmpl-1", object: "chat.completion", model: "m", choices: [] })
const key = { key: "00112233aabbccdd", check: "ffeeddcc99887766" }
const body = JSON.stringify({ messages: [{ role: "user", content: "hi" }] })
const path = "/v1/chat/completions"

const setUp = async () => {
  const { config } = await Effect.runPromise(loadConfig({ env: {}, readTextFile: async () => undefined }))
  const exactCache = ExactCache.make(makeMemoryExactStore({ maxEntries: 10, maxBytes: 1 << 20, ttlMs: 60_000 }))
  const created = Date.now()
  const meta = { tenant: "", model: "m", question: "hi", created, expires: created + 60_000 }
  const stored = await Effect.runPromiseExit(exactCache.store(key, completion, meta))
  assert.ok(Exit.isSuccess(stored))
  const seen: Array<{ readonly method: string; readonly body: string }> = []
  const deps: ExactHitLaneDependencies = {
    config,
    exactCache,
    metrics: Context.empty(),
    routes: new Map([[path, "openai"]]),
    contextOf: (request) => ({ tenant: request.headers.get("x-caller") ?? "", cacheRead: true }),
    checkKey: undefined,
    failed: () => new Response("failed", { status: 500 }),
    shareResponseHeaders: false,
    now: Date.now
  }
  const lane = makeExactHitLane(async (request) => {
    // As the app's routes read a body: through `readReceived`, which hands on what the lane read.
    seen.push({ method: request.method, body: (await readReceived(request)).text })
    return new Response("from the app")
  }, deps)
  const send = (text: string, headers: Record<string, string> = {}) =>
    Promise.resolve(lane.fetch(
      new Request(`http://127.0.0.1${path}`, {
        method: "POST",
        body: text,
        headers: { "content-length": String(Buffer.byteLength(text)), ...headers }
      }),
      path,
      new Exchange(performance.now(), "POST", path, undefined, null)
    ))
  return { lane, seen, send }
}

describe("the exact-hit lane alone", () => {
  it("sends a learned body's hit without the app, and hands the app everything else with its body", async () => {
    const { lane, seen, send } = await setUp()
    const first = await send(body)
    assert.equal(await first.text(), "from the app", "a body never seen is the app's")
    assert.deepEqual(seen, [{ method: "POST", body }])
    lane.learn("openai", new Request(`http://127.0.0.1${path}`), "", body, { key, model: "m", stream: false })
    const hit = await send(body)
    assert.equal(await hit.text(), completion)
    assert.equal(hit.headers.get("x-isartor-layer"), "l1a")
    assert.equal(seen.length, 1, "the hit did not reach the app")
    const otherCaller = await send(body, { "x-caller": "someone else" })
    assert.equal(await otherCaller.text(), "from the app", "another scope's body is not known")
    assert.deepEqual(seen[1], { method: "POST", body })
  })
})
