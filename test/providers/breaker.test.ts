import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import { makeCircuitBreaker } from "../../core/providers/health/CircuitBreaker.ts"
import { makeRetryBudget } from "../../core/providers/health/RetryBudget.ts"
import { eventually } from "../support/eventually.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { startPoolGateway } from "../support/poolGateway.ts"

const KEY = "sk-breaker-aaaaaaaaaaaaaaaa0001"

describe("circuit breaker", () => {
  it("opens when half of at least 10 recent calls failed, probes once after the cool-off, closes on success", () => {
    const breaker = makeCircuitBreaker(30_000)
    for (let call = 0; call < 9; call++) breaker.record(0, false, false)
    assert.equal(breaker.state(0), "closed", "nine calls are too few to judge")
    breaker.record(0, false, false)
    assert.equal(breaker.state(0), "open")
    assert.deepEqual(breaker.admit(1000), { _tag: "Rejected", retryAfterMs: 29_000 })
    assert.deepEqual(breaker.admit(30_000), { _tag: "Admitted", probe: true })
    assert.equal(breaker.admit(30_001)._tag, "Rejected", "one probe at a time")
    breaker.record(30_100, true, true)
    assert.equal(breaker.state(30_100), "closed")
    assert.deepEqual(breaker.admit(30_200), { _tag: "Admitted", probe: false })
  })

  it("opens again when its probe fails, and stays closed while most calls succeed", () => {
    const breaker = makeCircuitBreaker(10_000)
    for (let call = 0; call < 20; call++) breaker.record(0, call % 3 !== 0, false)
    assert.equal(breaker.state(0), "closed", "a third failing is not half")
    for (let call = 0; call < 10; call++) breaker.record(0, false, false)
    assert.equal(breaker.state(0), "open")
    assert.equal(breaker.admit(10_000)._tag, "Admitted")
    breaker.record(10_050, false, true)
    assert.equal(breaker.state(10_050), "open")
    assert.deepEqual(breaker.admit(11_050), { _tag: "Rejected", retryAfterMs: 9000 })
  })

  it("never opens with a cool-off of 0", () => {
    const breaker = makeCircuitBreaker(0)
    for (let call = 0; call < 50; call++) breaker.record(0, false, false)
    assert.equal(breaker.state(0), "closed")
  })
})

describe("retry budget", () => {
  it("allows the larger of 3 and a fifth of the requests over the last 10 s", () => {
    const budget = makeRetryBudget(0.2, 3)
    let retries = 0
    for (let request = 0; request < 30; request++) {
      budget.request(1000)
      for (let attempt = 0; attempt < 2; attempt++) if (budget.tryRetry(1000)) retries++
    }
    assert.equal(retries, 6)
    assert.deepEqual(budget.view(1000), { requests: 30, retries: 6, allowed: 6 })
    assert.deepEqual(budget.view(11_000), { requests: 0, retries: 0, allowed: 3 }, "the window has moved on")
    budget.request(11_000)
    assert.equal(budget.tryRetry(11_000), true)
  })
})

describe("provider health through the gateway", () => {
  let upstream: KeyedUpstream
  before(async () => {
    upstream = await startKeyedUpstream()
  })
  after(() => upstream.close())
  beforeEach(() => {
    upstream.calls.length = 0
    upstream.answers.clear()
  })
  const env = (extra: Record<string, string> = {}) => ({
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: KEY,
    ...extra
  })

  /** A client that sends the same prompt 30 times, as Codex does against an upstream answering 500. */
  const retryThirtyTimes = async (ask: (content: string) => Promise<Response>) => {
    const statuses = new Set<number>()
    for (let attempt = 0; attempt < 30; attempt++) statuses.add((await ask("the same prompt")).status)
    return statuses
  }

  it("a client retrying 30 times against a 500-ing upstream makes at most 36 upstream calls", async () => {
    for (const breakerOff of [false, true]) {
      upstream.calls.length = 0
      const gateway = await startPoolGateway(env(breakerOff ? { ISARTOR__BREAKER_COOLOFF_SECS: "0" } : {}))
      try {
        upstream.answers.set(KEY, { status: 500 })
        const statuses = await retryThirtyTimes(gateway.ask)
        assert.ok(upstream.calls.length <= 36, `${upstream.calls.length} upstream calls (breaker off: ${breakerOff})`)
        if (breakerOff) {
          assert.deepEqual([...statuses], [502])
          assert.ok(upstream.calls.length >= 30, "without the breaker every client attempt still reaches upstream")
        } else {
          assert.deepEqual([...statuses].sort(), [502, 503], "then the open breaker answers at once")
        }
      } finally {
        await gateway.close()
      }
    }
  })

  it("opens on failures, answers 503 with Retry-After without calling, probes after the cool-off and closes", async () => {
    const gateway = await startPoolGateway(env({ ISARTOR__BREAKER_COOLOFF_SECS: "30", ISARTOR__L3_MAX_RETRIES: "0" }))
    try {
      upstream.answers.set(KEY, { status: 500 })
      for (let request = 0; request < 10; request++) await gateway.ask(`failing ${request}`)
      upstream.calls.length = 0
      const rejected = await gateway.ask("while open")
      assert.equal(rejected.status, 503)
      assert.equal(rejected.headers.get("retry-after"), "30")
      assert.equal(rejected.headers.get("x-should-retry"), "false")
      assert.equal(((await rejected.json()) as { error: { code: string } }).error.code, "CircuitOpen")
      const anthropic = await gateway.ask("while open, Anthropic client", { path: "/v1/messages" })
      assert.equal(anthropic.status, 503)
      assert.equal(((await anthropic.json()) as { type: string }).type, "error")
      assert.equal(upstream.calls.length, 0, "an open breaker calls nothing")
      const health = (await (await gateway.get("/health")).json()) as { providers: Record<string, any> }
      assert.equal(health.providers.openai.breaker, "open")
      assert.match(await (await gateway.get("/metrics")).text(), /isartor_provider_breaker_state\{[^}]*\} 1/)

      // The upstream recovers; within its cool-off the gateway tries it again, once, and closes on success.
      upstream.answers.clear()
      gateway.clock.advance(29_000)
      assert.equal((await gateway.ask("still cooling off")).status, 503)
      gateway.clock.advance(1000)
      assert.equal((await gateway.ask("the probe")).status, 200)
      assert.equal((await gateway.ask("closed again")).status, 200)
      assert.equal(upstream.calls.length, 2)
      const [openai] = await gateway.providers()
      assert.equal(openai!.breaker.state, "closed")
    } finally {
      await gateway.close()
    }
  })

  it("opens again for another cool-off when its probe fails", async () => {
    const gateway = await startPoolGateway(env({ ISARTOR__BREAKER_COOLOFF_SECS: "10", ISARTOR__L3_MAX_RETRIES: "0" }))
    try {
      upstream.answers.set(KEY, { status: 500 })
      for (let request = 0; request < 10; request++) await gateway.ask(`failing ${request}`)
      gateway.clock.advance(10_000)
      upstream.calls.length = 0
      assert.equal((await gateway.ask("the probe fails")).status, 502)
      assert.equal((await gateway.ask("open again")).status, 503)
      assert.equal(upstream.calls.length, 1)
    } finally {
      await gateway.close()
    }
  })

  it("closes an open breaker once the background health check finds the upstream answering again", async () => {
    const gateway = await startPoolGateway(env({
      ISARTOR__BREAKER_COOLOFF_SECS: "300",
      ISARTOR__L3_MAX_RETRIES: "0",
      ISARTOR__PROVIDER_HEALTH_CHECK_SECS: "1"
    }))
    try {
      upstream.answers.set(KEY, { status: 500 })
      for (let request = 0; request < 10; request++) await gateway.ask(`failing ${request}`)
      assert.equal((await gateway.ask("open")).status, 503)
      const listedBefore = upstream.modelListings.count
      upstream.answers.clear()
      await eventually(async () => (await gateway.providers())[0]!.breaker.state === "closed", {
        what: "the health check to close the breaker long before its 300 s cool-off"
      })
      assert.ok(upstream.modelListings.count > listedBefore, "it asked GET /v1/models")
      upstream.calls.length = 0
      assert.equal((await gateway.ask("served again")).status, 200)
      assert.equal(upstream.calls.length, 1)
    } finally {
      await gateway.close()
    }
  })
})
