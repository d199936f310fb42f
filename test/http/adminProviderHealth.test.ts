import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import type { Overview } from "../../core/http/adminOverview.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { startPoolGateway } from "../support/poolGateway.ts"

// The overview's provider list carries each provider's health as /admin/providers shows it — breaker, keys (masked),
// retries and the retry budget's denials, 429s, the last error — so the dashboard's provider panel needs no other call.

const KEY_A = "sk-health-aaaaaaaaaaaaaaaa1111"
const KEY_B = "sk-health-bbbbbbbbbbbbbbbb2222"
const KEY_C = "sk-health-cccccccccccccccc3333"

let upstream: KeyedUpstream
before(async () => {
  upstream = await startKeyedUpstream()
})
after(() => upstream.close())
beforeEach(() => {
  upstream.calls.length = 0
  upstream.answers.clear()
})

const pooled = (keys: ReadonlyArray<string>, extra: Record<string, string> = {}) => ({
  ISARTOR__EXTERNAL_LLM_URL: upstream.url,
  ISARTOR__EXTERNAL_LLM_API_KEYS: keys.join(","),
  ...extra
})

describe("provider health in /admin/overview", () => {
  it("shows each key masked with its state and cooling time, the 429s and the last error", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B, KEY_C]))
    try {
      upstream.answers.set(KEY_A, { status: 401 })
      upstream.answers.set(KEY_B, { status: 429, retryAfterSecs: 30 })
      assert.equal((await gateway.ask("which key answers?")).status, 200)
      const text = await (await gateway.get("/admin/overview")).text()
      const [openai] = (JSON.parse(text) as Overview).providers
      const [listed] = await gateway.providers()
      assert.equal(openai!.id, "openai")
      assert.equal(openai!.role, "primary")
      assert.equal(openai!.status, "ok")
      assert.deepEqual(openai!.keys, listed!.keys, "the keys as /admin/providers shows them")
      assert.deepEqual(openai!.keys.map((key) => [key.key, key.state]), [
        ["sk-…1111", "invalid"],
        ["sk-…2222", "cooling"],
        ["sk-…3333", "ok"]
      ])
      assert.equal(
        openai!.keys[1]!.cooling_until,
        new Date(gateway.clock.clock.currentTimeMillisUnsafe() + 30_000).toISOString()
      )
      assert.equal(openai!.rate_limited, 1, "the 429 another key absorbed counts")
      assert.deepEqual(openai!.breaker, listed!.breaker)
      assert.equal(openai!.breaker?.state, "closed")
      assert.equal(openai!.key_strategy, "round_robin")
      assert.equal(openai!.last_error?.status, 429)
      assert.equal(openai!.last_error?.reason, "RateLimited")
      assert.match(openai!.last_error?.message ?? "", /Rate limit reached/)
      for (const key of [KEY_A, KEY_B, KEY_C]) assert.ok(!text.includes(key.slice(3, -4)), "no key in the overview")
    } finally {
      await gateway.close()
    }
  })

  it("shows an open breaker, the provider down, and the retries the budget denied", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A], {
      ISARTOR__L3_MAX_RETRIES: "1",
      ISARTOR__RETRY_BUDGET_RATIO: "0",
      ISARTOR__RETRY_BUDGET_MIN_RETRIES: "1",
      ISARTOR__BREAKER_COOLOFF_SECS: "60"
    }))
    try {
      upstream.answers.set(KEY_A, { status: 500 })
      for (let request = 0; request < 10; request++) await (await gateway.ask(`failing ${request}`)).arrayBuffer()
      const [openai] = ((await (await gateway.get("/admin/overview")).json()) as Overview).providers
      assert.equal(openai!.breaker?.state, "open")
      assert.equal(openai!.breaker?.open_until, (await gateway.providers())[0]!.breaker.open_until)
      assert.equal(openai!.status, "down")
      assert.equal(openai!.retries, 1, "the budget allows one retry")
      assert.ok(openai!.retries_denied >= 8, `retries denied: ${openai!.retries_denied}`)
      assert.equal(openai!.last_error?.status, 500)
      assert.equal(openai!.last_error?.reason, "Upstream")
    } finally {
      await gateway.close()
    }
  })
})
