import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import { maskKey } from "../../core/providers/keys/KeyPool.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { type PoolGateway, startPoolGateway } from "../support/poolGateway.ts"

const KEY_A = "sk-pool-aaaaaaaaaaaaaaaa1111"
const KEY_B = "sk-pool-bbbbbbbbbbbbbbbb2222"
const KEY_C = "sk-pool-cccccccccccccccc3333"

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
const keysCalled = () => upstream.calls.map((call) => call.key)

/** The retries `/admin/overview` counts for the pooled provider (`isartor_l3_retries_total`). */
const retriesOf = async (gateway: PoolGateway) => {
  const overview = (await (await gateway.get("/admin/overview")).json()) as {
    providers: Array<{ id: string; retries: number }>
  }
  return overview.providers.find((provider) => provider.id === "openai")!.retries
}

describe("key pools", () => {
  it("sets a refused key aside and cools a rate-limited one, answering on the healthy key at once", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B, KEY_C]))
    try {
      upstream.answers.set(KEY_A, { status: 401 })
      upstream.answers.set(KEY_B, { status: 429, retryAfterSecs: 30 })
      const first = await gateway.ask("first question")
      assert.equal(first.status, 200)
      assert.deepEqual(keysCalled(), [KEY_A, KEY_B, KEY_C], "each key once, no retry wait in between")
      upstream.calls.length = 0
      assert.equal((await gateway.ask("second question")).status, 200)
      assert.deepEqual(keysCalled(), [KEY_C], "the refused and the cooling key are not called")

      const [openai] = await gateway.providers()
      assert.deepEqual(
        openai!.keys.map((key: Record<string, unknown>) => [key.key, key.label, key.state]),
        [["sk-pool-…1111", "key-1", "invalid"], ["sk-pool-…2222", "key-2", "cooling"], ["sk-pool-…3333", "key-3", "ok"]]
      )
      assert.equal(openai!.keys[1].rate_limited, 1)
      assert.equal(openai!.keys[2].requests, 2)
      assert.ok(Date.parse(openai!.keys[1].cooling_until) > Date.now(), "cooling until a time to come")
    } finally {
      await gateway.close()
    }
  })

  it("uses a cooled key again once its Retry-After, or key_cooldown_secs, has passed", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B], { ISARTOR__KEY_COOLDOWN_SECS: "60" }))
    try {
      upstream.answers.set(KEY_A, { status: 429, retryAfterSecs: 30 })
      upstream.answers.set(KEY_B, { status: 429 })
      assert.equal((await gateway.ask("both rate limited")).status, 429)
      upstream.answers.clear()
      upstream.calls.length = 0
      gateway.clock.advance(29_999)
      assert.equal((await gateway.ask("too early")).status, 429)
      assert.equal(upstream.calls.length, 0, "no key is called while all cool down")
      gateway.clock.advance(1)
      assert.equal((await gateway.ask("A is back")).status, 200)
      assert.deepEqual(keysCalled(), [KEY_A], "A's Retry-After is over; B rests its 60 s")
      gateway.clock.advance(30_000)
      upstream.calls.length = 0
      await gateway.ask("turn one")
      await gateway.ask("turn two")
      assert.deepEqual(new Set(keysCalled()), new Set([KEY_A, KEY_B]), "B is back after key_cooldown_secs")
    } finally {
      await gateway.close()
    }
  })

  it("keeps to priority order, and returns to the first key once it has cooled", async () => {
    const file = `
key_strategy = "priority"
external_llm_url = "${upstream.url}"
external_llm_api_keys = [
  { key = "${KEY_B}", label = "backup", priority = 2 },
  { key = "${KEY_A}", label = "main", priority = 1 },
  "${KEY_C}"
]
`
    const gateway = await startPoolGateway({}, { "isartor.toml": file })
    try {
      for (const question of ["p1", "p2", "p3"]) await gateway.ask(question)
      assert.deepEqual(keysCalled(), [KEY_A, KEY_A, KEY_A])
      upstream.calls.length = 0
      upstream.answers.set(KEY_A, { status: 429, retryAfterSecs: 10 })
      await gateway.ask("main is limited")
      await gateway.ask("backup serves")
      assert.deepEqual(keysCalled(), [KEY_A, KEY_B, KEY_B], "then the next priority, never the unprioritised key")
      upstream.answers.clear()
      upstream.calls.length = 0
      gateway.clock.advance(10_000)
      await gateway.ask("main again")
      assert.deepEqual(keysCalled(), [KEY_A])
      const [openai] = await gateway.providers()
      assert.deepEqual(openai!.keys.map((key: Record<string, unknown>) => key.label), ["backup", "main", "key-3"])
    } finally {
      await gateway.close()
    }
  })

  it("answers 429 with the soonest Retry-After, in the client's format, when every key cools", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B]))
    try {
      upstream.answers.set(KEY_A, { status: 429, retryAfterSecs: 20 })
      upstream.answers.set(KEY_B, { status: 429, retryAfterSecs: 5 })
      const openai = await gateway.ask("all limited")
      assert.equal(openai.status, 429)
      assert.equal(openai.headers.get("retry-after"), "5")
      assert.equal(((await openai.json()) as { error: { type: string } }).error.type, "rate_limit_error")
      assert.equal(upstream.calls.length, 2, "each key once, no retries of a pool that is all cooling")
      assert.equal(await retriesOf(gateway), 0, "the 429 comes at once, not after a retry's wait")
      gateway.clock.advance(2000)
      const anthropic = await gateway.ask("all limited, Anthropic client", { path: "/v1/messages" })
      assert.equal(anthropic.status, 429)
      assert.equal(anthropic.headers.get("retry-after"), "3")
      assert.deepEqual(
        ((await anthropic.json()) as { type: string; error: { type: string } }).error.type,
        "rate_limit_error"
      )
      assert.equal(upstream.calls.length, 2, "nothing is sent while every key cools")
    } finally {
      await gateway.close()
    }
  })

  it("moves on to the next provider in the chain when every key cools", async () => {
    const fallback = await startKeyedUpstream()
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B], {
      ISARTOR__FALLBACK_PROVIDERS: "openai-compatible",
      ISARTOR__PROVIDERS__OPENAI_COMPATIBLE__URL: fallback.url,
      ISARTOR__PROVIDERS__OPENAI_COMPATIBLE__API_KEYS: KEY_C
    }))
    try {
      upstream.answers.set(KEY_A, { status: 429, retryAfterSecs: 20 })
      upstream.answers.set(KEY_B, { status: 429, retryAfterSecs: 20 })
      const answer = await gateway.ask("fall back")
      assert.equal(answer.status, 200)
      assert.equal(answer.headers.get("x-isartor-provider"), "openai-compatible")
      assert.deepEqual(fallback.calls.map((call) => call.key), [KEY_C])
      assert.equal(await retriesOf(gateway), 0, "no retry (after its Retry-After) of a pool all cooling: on at once")
    } finally {
      await gateway.close()
      await fallback.close()
    }
  })

  it("never shows a key: not in logs, error bodies, /metrics, /health or /admin/providers", async () => {
    const gateway = await startPoolGateway(pooled([KEY_A, KEY_B]))
    try {
      upstream.answers.set(KEY_A, { status: 401 })
      upstream.answers.set(KEY_B, { status: 401 })
      const refused = await gateway.ask("every key refused")
      assert.equal(refused.status, 502)
      const shown = [
        await refused.text(),
        await (await gateway.get("/metrics")).text(),
        await (await gateway.get("/health")).text(),
        await (await gateway.get("/admin/providers")).text(),
        ...gateway.lines
      ].join("\n")
      assert.match(shown, /Incorrect API key provided/, "the upstream's message is passed on")
      for (const key of [KEY_A, KEY_B]) {
        assert.ok(!shown.includes(key), "the key itself appears nowhere")
        assert.ok(!shown.includes(key.slice(3, -4)), "nor its middle")
      }
      assert.match(shown, /isartor_provider_breaker_state\{[^}]*provider="openai"/)
    } finally {
      await gateway.close()
    }
  })

  it("stops start-up on a malformed pooled key, naming its place and never the key", async () => {
    const error = await startPoolGateway(pooled([KEY_A, "bad key with spaces"])).then(
      () => assert.fail("started"),
      (failure: unknown) => failure as Error
    )
    assert.match(error.message, /ISARTOR__EXTERNAL_LLM_API_KEYS \(key 2\)/)
    assert.ok(!error.message.includes("bad key with spaces"))
  })

  it("masks a key as its kind and last four characters", () => {
    assert.equal(maskKey("sk-proj-abcdefghijklmnopqrstuvwxyz1234"), "sk-proj-…1234")
    assert.equal(maskKey("sk-ant-api03-abcdefghijklmnop9876"), "sk-ant-…9876")
    assert.equal(maskKey("AIzaSyAbcdefghijklmnopqrstuvw"), "AIza…tuvw")
    assert.equal(maskKey("short-key1"), "short-…", "a short key keeps its last characters to itself")
  })
})
