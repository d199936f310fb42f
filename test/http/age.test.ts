import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type Gateway, startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { makeMovableClock } from "../support/movableClock.ts"

// A cached answer's `Age` is read on the gateway's one clock (GatewayOptions.clock), the clock its caches stamp
// entries by: moving it moves the Age of every hit, whichever path answers it.

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

const quiet = { info: () => undefined, warn: () => undefined }

describe("the Age of a cached answer", () => {
  for (const exactHitLane of [true, false]) {
    it(`follows the gateway's clock (exact-hit lane ${exactHitLane ? "on" : "off"})`, async () => {
      const time = makeMovableClock()
      const gateway: Gateway = await startGateway(
        { env: upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact" }), readTextFile: async () => undefined },
        { log: quiet, clock: time.clock, exactHitLane }
      )
      try {
        const ask = async (path: string, body: Record<string, unknown>) => {
          const response = await gateway.fetch(
            new Request(`http://gateway${path}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify(body)
            })
          )
          await response.arrayBuffer()
          return [response.headers.get("x-isartor-layer"), response.headers.get("age")]
        }
        const openai = { model: "gpt-4o-mini", messages: [{ role: "user", content: `How old? ${exactHitLane}` }] }
        const anthropic = { ...openai, max_tokens: 64 }
        assert.deepEqual(await ask("/v1/chat/completions", openai), ["l3", null])
        assert.deepEqual(await ask("/v1/chat/completions", openai), ["l1a", "0"])
        time.advance(90_000)
        assert.deepEqual(await ask("/v1/chat/completions", openai), ["l1a", "90"])
        assert.deepEqual(await ask("/v1/messages", anthropic), ["l3", null])
        time.advance(30_000)
        assert.deepEqual(await ask("/v1/messages", anthropic), ["l1a", "30"])
      } finally {
        await gateway.dispose()
      }
    })
  }
})
