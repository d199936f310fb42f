import { Clock, Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { makeLedger } from "../../core/usage/ledger.ts"
import { makePrices } from "../../core/usage/prices.ts"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { makeMemoryStore } from "../../core/usage/UsageStore.ts"
import { makeMovableClock } from "../support/movableClock.ts"

const DAY = 24 * 3_600_000

const row = (at: number, extra: Partial<UsageRow> = {}): UsageRow => ({
  at,
  caller: "caller-hash",
  family: "chat",
  model_asked: "gpt-4o-mini",
  provider: "openai",
  model: "gpt-4o-mini",
  layer: "l3",
  tokens_in: 10,
  tokens_out: 20,
  cost_usd: 0.001,
  tokens_saved: 0,
  cost_saved_usd: 0,
  latency_ms: 5,
  status: 200,
  stream: false,
  ...extra
})

const prices = makePrices({ pricing: {}, model_prices: [] })
const ledgerWith = (retentionDays: number) =>
  makeLedger({
    store: makeMemoryStore(),
    retentionMs: retentionDays * DAY,
    priced: (provider, model) => prices(provider, model) !== undefined
  })

describe("the usage ledger", () => {
  it("forgets what is older than its retention as time passes, and keeps the rest", async () => {
    const time = makeMovableClock()
    const start = Effect.runSync(time.clock.currentTimeMillis)
    const totals = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const ledger = yield* ledgerWith(30)
        const requests = Effect.map(
          ledger.totals({ since: start - 60 * DAY, until: start + 60 * DAY }),
          (total) => total.requests
        )
        ledger.record(row(start - 10 * DAY))
        ledger.record(row(start))
        const kept = [yield* requests]
        time.advance(25 * DAY)
        kept.push(yield* requests)
        time.advance(10 * DAY)
        kept.push(yield* requests)
        return kept
      })).pipe(Effect.provideService(Clock.Clock, time.clock))
    )
    assert.deepEqual(totals, [2, 1, 0])
  })

  it("sums hours into groups, lists unpriced models, and counts errors", async () => {
    const now = Date.now()
    const report = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const ledger = yield* ledgerWith(30)
      ledger.record(row(now, { label: "team-web" }))
      ledger.record(row(now, { label: "team-web", status: 502, tokens_in: 0, tokens_out: 0, cost_usd: 0 }))
      ledger.record(row(now, { model: "home-grown-7b", provider: "ollama", cost_usd: 0 }))
      return yield* ledger.report({ since: now - 3_600_000, until: now + 1 }, "caller")
    })))
    assert.deepEqual(report.groups.map((group) => [group.key, group.requests, group.errors]), [
      ["team-web", 2, 1],
      ["caller-hash", 1, 0]
    ])
    assert.deepEqual(report.unpriced_models, ["home-grown-7b"])
    assert.equal(report.total.tokens_in, 20)
    assert.equal(report.total.cost_usd, 0.001)
  })

  it("groups by UTC hour and by UTC day, in time order, each key the bucket's start", async () => {
    const hour = 3_600_000
    const midnight = Date.parse("2026-03-02T00:00:00Z")
    const report = (by: "hour" | "day") =>
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const ledger = yield* ledgerWith(36_500)
        ledger.record(row(midnight + 10 * hour + 5 * 60_000))
        ledger.record(row(midnight - hour + 59 * 60_000))
        ledger.record(row(midnight + 10 * hour + 59 * 60_000, { layer: "l1a", cost_usd: 0 }))
        ledger.record(row(midnight + 11 * hour))
        return yield* ledger.report({ since: midnight - DAY, until: midnight + DAY }, by)
      })))
    const hourly = await report("hour")
    assert.deepEqual(hourly.groups.map((group) => [group.key, group.requests, group.layers]), [
      ["2026-03-01T23:00Z", 1, { l3: 1 }],
      ["2026-03-02T10:00Z", 2, { l3: 1, l1a: 1 }],
      ["2026-03-02T11:00Z", 1, { l3: 1 }]
    ])
    const daily = await report("day")
    assert.deepEqual(daily.groups.map((group) => [group.key, group.requests]), [["2026-03-01", 1], ["2026-03-02", 3]])
  })

  it("tells subscribers each row as it is recorded, and keeps the last rows newest first", async () => {
    const seen: Array<number> = []
    const recent = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const ledger = yield* ledgerWith(30)
      const stop = ledger.subscribe((recorded) => seen.push(recorded.latency_ms))
      for (let index = 0; index < 1005; index++) ledger.record(row(Date.now(), { latency_ms: index }))
      stop()
      ledger.record(row(Date.now(), { latency_ms: 9999 }))
      return yield* ledger.recent(2000)
    })))
    assert.equal(seen.length, 1005)
    assert.equal(recent.length, 1000)
    assert.deepEqual(recent.slice(0, 2).map((kept) => kept.latency_ms), [9999, 1004])
  })
  it("counts a note whose estimate came after 1,000 newer requests, and keeps those 1,000 as they were", async () => {
    let estimated!: (tokens: number) => void
    const seen: Array<UsageRow> = []
    const completion = JSON.stringify({ model: "gpt-4o-mini", choices: [{ message: { content: "late answer" } }] })
    const { recent, total } = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const ledger = yield* makeLedger({
        store: makeMemoryStore(),
        retentionMs: 30 * DAY,
        priced: () => true,
        estimateInput: () => new Promise<number>((resolve) => (estimated = resolve))
      })
      const now = Date.now()
      const body = { messages: [{ role: "user", content: "a question answered without usage" }] }
      ledger.recordNote(
        { tenant: "late-caller|", modelAsked: "gpt-4o-mini", completion, body },
        "chat",
        "l3",
        "openai",
        200,
        7,
        now
      )
      for (let index = 0; index < 1000; index++) ledger.record(row(now, { latency_ms: index }))
      ledger.subscribe((recorded) => seen.push(recorded))
      estimated(42)
      const total = yield* ledger.totals({ since: now - DAY, until: now + DAY })
      return { recent: yield* ledger.recent(1000), total }
    })))
    assert.equal(total.requests, 1001)
    assert.equal(total.tokens_in, 1000 * 10 + 42)
    assert.deepEqual(recent.map((kept) => kept.latency_ms), Array.from({ length: 1000 }, (_, index) => 999 - index))
    assert.deepEqual(seen.map((told) => [told.caller, told.tokens_in, told.tokens_estimated]), [[
      "late-caller",
      42,
      true
    ]])
  })
})
