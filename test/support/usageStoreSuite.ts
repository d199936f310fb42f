import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { HOUR_MS, RECENT_ROWS, type UsageRollup, type UsageStore } from "../../core/usage/UsageStore.ts"

// The cases every usage ledger store must pass, run once per store (as storeSuites.ts does for the caches): memory,
// SQLite (test/usage/UsageStore.test.ts) and Redis (test/usage/UsageStore.e2e.ts).

export interface UsageBackend {
  readonly store: UsageStore
  readonly close: () => Promise<void>
}

// A fixed hour in the past, so rows never land in the hour being written while the test runs.
const HOUR = Date.parse("2026-03-02T10:00:00Z")
const DAY = 24 * HOUR_MS

const usageRow = (at: number, extra: Partial<UsageRow> = {}): UsageRow => ({
  at,
  caller: "scope-hash",
  family: "chat",
  model_asked: "gpt-4o-mini",
  provider: "openai",
  model: "gpt-4o-mini",
  layer: "l3",
  tokens_in: 10,
  tokens_out: 20,
  cost_usd: 0.5,
  tokens_saved: 0,
  cost_saved_usd: 0,
  latency_ms: 5,
  status: 200,
  stream: false,
  ...extra
})

const identity = (rollup: UsageRollup) => `${rollup.caller}/${rollup.provider}/${rollup.model}/${rollup.layer}`
const sorted = (rollups: ReadonlyArray<UsageRollup>) =>
  [...rollups].sort((a, b) => a.hour - b.hour || identity(a).localeCompare(identity(b)))

/**
 * A usage store: `make()` opens a store of its own (a file, a server) for the suite. `prunes: false` where the store
 * forgets by itself (Redis expires each hour's hash), so `prune` has nothing to check.
 */
export const testUsageStore = (name: string, make: () => Promise<UsageBackend>, { prunes = true } = {}) =>
  describe(`usage store: ${name}`, () => {
    let backend: UsageBackend
    before(async () => {
      backend = await make()
    })
    after(() => backend.close())

    it("adds every batch to its hour's rollup per caller label, provider, model and layer", async () => {
      const { store } = backend
      await store.append([
        usageRow(HOUR + 60_000, { label: "team-web" }),
        usageRow(HOUR + 120_000, { label: "team-web", status: 502, tokens_in: 0, tokens_out: 0, cost_usd: 0 }),
        usageRow(HOUR + 180_000, { layer: "l1a", cost_usd: 0, tokens_saved: 30, cost_saved_usd: 0.25 })
      ])
      await store.append([usageRow(HOUR + 240_000, { label: "team-web" }), usageRow(HOUR + HOUR_MS)])
      const rollups = sorted(await store.rollups({ since: HOUR + 30 * 60_000, until: HOUR + 2 * HOUR_MS }))
      assert.deepEqual(rollups.map((rollup) => ({ ...rollup })), [
        {
          hour: HOUR,
          caller: "scope-hash",
          provider: "openai",
          model: "gpt-4o-mini",
          layer: "l1a",
          requests: 1,
          errors: 0,
          tokens_in: 10,
          tokens_out: 20,
          cost_usd: 0,
          tokens_saved: 30,
          cost_saved_usd: 0.25
        },
        {
          hour: HOUR,
          caller: "team-web",
          provider: "openai",
          model: "gpt-4o-mini",
          layer: "l3",
          requests: 3,
          errors: 1,
          tokens_in: 20,
          tokens_out: 40,
          cost_usd: 1,
          tokens_saved: 0,
          cost_saved_usd: 0
        },
        {
          hour: HOUR + HOUR_MS,
          caller: "scope-hash",
          provider: "openai",
          model: "gpt-4o-mini",
          layer: "l3",
          requests: 1,
          errors: 0,
          tokens_in: 10,
          tokens_out: 20,
          cost_usd: 0.5,
          tokens_saved: 0,
          cost_saved_usd: 0
        }
      ])
      // `until` is exclusive: the later hour is outside a window ending where it starts.
      const first = await store.rollups({ since: HOUR, until: HOUR + HOUR_MS })
      assert.deepEqual(first.map((rollup) => rollup.hour), [HOUR, HOUR])
    })

    it(`keeps the last ${RECENT_ROWS} rows, newest first, as they were recorded`, async () => {
      const { store } = backend
      const rows = Array.from({ length: RECENT_ROWS + 5 }, (_, index) => usageRow(HOUR + index, { latency_ms: index }))
      await store.append(rows.slice(0, 500))
      await store.append(rows.slice(500))
      const recent = await store.recent(RECENT_ROWS * 2)
      assert.equal(recent.length, RECENT_ROWS)
      assert.deepEqual(recent[0], rows.at(-1))
      assert.deepEqual(recent.at(-1), rows[5])
      assert.deepEqual((await store.recent(2)).map((row) => row.latency_ms), [RECENT_ROWS + 4, RECENT_ROWS + 3])
      assert.deepEqual(await store.recent(0), [])
    })

    if (!prunes) return
    it("forgets the rollups and rows older than what it is told to prune", async () => {
      const { store } = backend
      const old = HOUR - 40 * DAY
      await store.append([usageRow(old), usageRow(old + HOUR_MS), usageRow(HOUR - 10 * DAY)])
      await store.prune(old + HOUR_MS + 1)
      const hours = (await store.rollups({ since: old - DAY, until: HOUR })).map((rollup) => rollup.hour).sort()
      assert.deepEqual(hours, [old + HOUR_MS, HOUR - 10 * DAY])
      const kept = (await store.recent(RECENT_ROWS)).filter((row) => row.at < HOUR)
      assert.deepEqual(kept.map((row) => row.at), [HOUR - 10 * DAY])
    })
  })
