import { Clock, Effect } from "effect"
import type { Database } from "node-sqlite3-wasm"
import assert from "node:assert/strict"
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, it } from "node:test"
import { makeLedger } from "../../core/usage/ledger.ts"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { openSqliteUsageStore, openUsageStore, usagePath } from "../../runtimes/usage/sqliteStore.ts"
import { makeMovableClock } from "../support/movableClock.ts"

const DAY = 24 * 3_600_000
const dir = mkdtempSync(join(tmpdir(), "isartor-sqlite-"))
after(() => rmSync(dir, { recursive: true, force: true }))

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

describe("the usage ledger's SQLite store", () => {
  it("keeps its rollups and rows in the file: a store opened on it again reads them", async () => {
    const path = join(dir, "reopened.db")
    const now = Date.now()
    const first = await openSqliteUsageStore(path)
    await first.append([usageRow(now, { label: "team-web" }), usageRow(now + 1)])
    await first.close?.()
    const second = await openSqliteUsageStore(path)
    try {
      const rollups = await second.rollups({ since: now - DAY, until: now + DAY })
      assert.deepEqual(rollups.map((rollup) => [rollup.caller, rollup.requests]).sort(), [
        ["scope-hash", 1],
        ["team-web", 1]
      ])
      assert.deepEqual((await second.recent(10)).map((row) => row.at), [now + 1, now])
    } finally {
      await second.close?.()
    }
  })

  it("forgets what is older than the retention as the ledger's clock moves on", async () => {
    const time = makeMovableClock()
    const start = Effect.runSync(time.clock.currentTimeMillis)
    const store = await openSqliteUsageStore(join(dir, "retention.db"))
    const kept = await Effect.runPromise(
      Effect.scoped(Effect.gen(function*() {
        const ledger = yield* makeLedger({ store, retentionMs: 30 * DAY, priced: () => true })
        const requests = Effect.map(
          ledger.totals({ since: start - 60 * DAY, until: start + 60 * DAY }),
          (total) => total.requests
        )
        ledger.record(usageRow(start - 10 * DAY))
        ledger.record(usageRow(start))
        const seen = [yield* requests]
        time.advance(25 * DAY)
        seen.push(yield* requests)
        time.advance(10 * DAY)
        seen.push(yield* requests)
        return seen
      })).pipe(Effect.provideService(Clock.Clock, time.clock))
    )
    assert.deepEqual(kept, [2, 1, 0])
    assert.deepEqual(await store.recent(10), [])
    await store.close?.()
  })

  it("keeps the rows of a file written by the first version (a row per request), newest first", async () => {
    const path = join(dir, "version-1.db")
    const sqlite = await import("node-sqlite3-wasm") as unknown as { default: { Database: typeof Database } }
    const old = new sqlite.default.Database(path)
    const now = Date.now()
    old.exec("CREATE TABLE recent (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, row TEXT NOT NULL)")
    for (const row of [usageRow(now, { latency_ms: 1 }), usageRow(now + 1, { latency_ms: 2 })]) {
      old.run("INSERT INTO recent (at, row) VALUES (?, ?)", [row.at, JSON.stringify(row)])
    }
    old.close()
    const store = await openSqliteUsageStore(path)
    try {
      assert.deepEqual(await store.recent(10), [usageRow(now + 1, { latency_ms: 2 }), usageRow(now, { latency_ms: 1 })])
      await store.append([usageRow(now + 2, { latency_ms: 3 })])
      assert.deepEqual((await store.recent(10)).map((row) => row.latency_ms), [3, 2, 1])
    } finally {
      await store.close?.()
    }
  })

  it("takes over a file whose lock a killed process left behind", async () => {
    const path = join(dir, "killed.db")
    await (await openSqliteUsageStore(path)).close?.()
    // What node-sqlite3-wasm's lock looks like when its holder died inside a transaction.
    mkdirSync(`${path}.lock`)
    const longAgo = new Date(Date.now() - 60_000)
    utimesSync(`${path}.lock`, longAgo, longAgo)
    const store = await openSqliteUsageStore(path)
    try {
      await store.append([usageRow(Date.now())])
      assert.equal((await store.recent(10)).length, 1)
    } finally {
      await store.close?.()
    }
  })

  it("keeps the ledger in memory, with a warning naming the file, when the file cannot be opened", async (t) => {
    const blocker = join(dir, "a-file")
    writeFileSync(blocker, "not a directory")
    const path = join(blocker, "usage.db")
    const warnings: Array<string> = []
    t.mock.method(console, "error", (line: string) => void warnings.push(line))
    const store = await openUsageStore(path, {})
    await store.append([usageRow(Date.now())])
    assert.equal((await store.recent(10)).length, 1)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /usage ledger: cannot open .*a-file\/usage\.db .*kept in memory/)
  })

  it("keeps the ledger in memory when usage_path is where no directory can be made (under /proc)", async (t) => {
    if (!existsSync("/proc/self")) return t.skip("no /proc here")
    const warnings: Array<string> = []
    t.mock.method(console, "error", (line: string) => void warnings.push(line))
    const store = await openUsageStore("/proc/self/isartor/usage.db", {})
    await store.append([usageRow(Date.now())])
    assert.equal((await store.recent(10)).length, 1)
    assert.match(warnings.join("\n"), /usage ledger: cannot open \/proc\/self\/isartor\/usage\.db .*kept in memory/)
  })

  it("makes the missing directories of usage_path", async () => {
    const store = await openUsageStore(join(dir, "made", "for", "it", "usage.db"), {})
    try {
      await store.append([usageRow(Date.now())])
      assert.equal((await store.recent(10)).length, 1)
    } finally {
      await store.close?.()
    }
    assert.ok(existsSync(join(dir, "made", "for", "it", "usage.db")))
  })

  it("is usage.db in ISARTOR_HOME unless usage_path names a file", () => {
    assert.equal(usagePath("", { ISARTOR_HOME: "/srv/isartor" }), "/srv/isartor/usage.db")
    assert.equal(usagePath("", { HOME: "/home/ops" }), "/home/ops/.local/state/isartor/usage.db")
    assert.equal(usagePath("/data/ledger.db", { ISARTOR_HOME: "/srv/isartor" }), "/data/ledger.db")
  })
})
