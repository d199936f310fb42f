import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import { CacheKey, type ExactKey } from "../../core/cache/CacheKey.ts"
import { loadConfig } from "../../core/config/Config.ts"
import type { Answer } from "../../core/domain/Answer.ts"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"
import { makeRoutedUpstream } from "../../core/pipeline/routedUpstream.ts"

const keys = await Effect.runPromise(CacheKey.pipe(Effect.provide(CacheKey.layer)))
const { config } = await Effect.runPromise(loadConfig({ env: {}, readTextFile: async () => undefined }))

const TARGET = "claude-haiku-4-5"

/** A Claude Code turn as the gateway decodes it, kept as bytes when it came large. */
const turn = (text: string, asBytes: boolean): ChatRequest => {
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
    source: {
      format: "anthropic",
      text,
      body,
      headers: {},
      received: asBytes ? { text, bytes: new TextEncoder().encode(text) } : undefined
    }
  }
}

/** The key L1a is asked under for a request routed to the TEMPLATE tier's model. */
const routedKey = async (request: ChatRequest): Promise<ExactKey> => {
  let looked: ExactKey | undefined
  const answer: Answer = { _tag: "Complete", layer: "l1a", completion: "{}" }
  const routed = makeRoutedUpstream(config, new Map([["TEMPLATE", { model: TARGET, provider: "anthropic" }]]), keys, {
    lookupExact: (_, key) => Effect.sync(() => (looked = key, answer)),
    callUpstream: () => Effect.die("not asked upstream")
  }, {
    fallThrough: (next) => ({ CacheMiss: () => next(), LayerUnavailable: () => next() }),
    saved: (hit) => hit
  })
  await Effect.runPromise(routed(request, keys.exactKey(request), "TEMPLATE"))
  return looked!
}

/** The same body as a client sends it for the tier's model itself. */
const forTarget = (text: string) => {
  const model = (JSON.parse(text) as { model: string }).model
  const edited = text.replace(`"model":"${model}"`, `"model":"${TARGET}"`)
  assert.notEqual(edited, text)
  return edited
}

describe("a request routed to a tier's model", () => {
  for (const [size, sizeKb, asBytes] of [["small", 4, false], ["large, kept as bytes", 164, true]] as const) {
    it(`shares the exact entry of the same body sent for that model (${size})`, async () => {
      const text = agentRequest("claude", sizeKb, `routed ${size}`).body
      const routed = await routedKey(turn(text, asBytes))
      assert.deepEqual(routed, keys.exactKey(turn(forTarget(text), asBytes)))
      assert.notEqual(routed.key, keys.exactKey(turn(text, asBytes)).key, "the model asked for has its own")
      const next = agentRequest("claude", sizeKb, `routed ${size}, next turn`).body
      assert.notEqual((await routedKey(turn(next, asBytes))).key, routed.key)
    })
  }
})
