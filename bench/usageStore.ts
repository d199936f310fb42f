// The usage ledger's SQLite store on the runtime that runs this: opening the file, a batch of 1,000 rows (one
// transaction, as the ledger writes a second's requests), and a 7-day report over 30 days of hourly rollups, with the
// memory store beside it. SQLite runs on the event loop: a batch's time is the loop's pause. Prints; asserts nothing.
// Usage: npm run bench:usage-store -- [--rounds 20]   ·   bun bench/usageStore.ts   ·   deno run -A bench/usageStore.ts
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { reportOf } from "../core/usage/report.ts"
import type { UsageLayer, UsageRow } from "../core/usage/UsageRow.ts"
import { HOUR_MS, makeMemoryStore, type UsageStore } from "../core/usage/UsageStore.ts"
import { openSqliteUsageStore } from "../runtimes/usage/sqliteStore.ts"

const { values } = parseArgs({ options: { rounds: { type: "string", default: "20" } } })
const rounds = Number(values.rounds)
const runtime = "Bun" in globalThis
  ? `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : "Deno" in globalThis
  ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : `node ${process.version}`

const LAYERS: ReadonlyArray<UsageLayer> = ["l1a", "l1b", "l2", "l3", "pass"]
const now = Date.now() - (Date.now() % HOUR_MS)
const row = (at: number, index: number): UsageRow => ({
  at,
  caller: `scope-${index % 10}`,
  label: index % 3 === 0 ? `team-${index % 10}` : undefined,
  family: "chat",
  model_asked: "gpt-4o-mini",
  provider: "openai",
  model: `model-${index % 5}`,
  layer: LAYERS[index % LAYERS.length]!,
  tokens_in: 120,
  tokens_out: 80,
  cost_usd: 0.0003,
  tokens_saved: 0,
  cost_saved_usd: 0,
  latency_ms: 12,
  status: 200,
  stream: false
})
// 30 days × 24 hours × 50 identities (10 callers × 5 models and layers).
const history = Array.from({ length: 720 * 50 }, (_, index) => row(now - Math.floor(index / 50) * HOUR_MS, index))

const median = async (run: () => Promise<unknown>) => {
  const times: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    await run()
    times.push(performance.now() - started)
  }
  return times.sort((a, b) => a - b)[Math.floor(rounds / 2)]!
}

const measure = async (name: string, open: () => Promise<UsageStore>, file?: string) => {
  const opening = performance.now()
  const store = await open()
  const openMs = performance.now() - opening
  await store.append(history)
  let batch = 0
  const batchMs = await median(() =>
    store.append(Array.from({ length: 1000 }, (_, index) => row(now + batch++ * 1000 + index, index)))
  )
  const window = { since: now - 7 * 24 * HOUR_MS, until: now + HOUR_MS }
  let groups = 0
  const reportMs = await median(async () => {
    groups = reportOf(await store.rollups(window), window, "caller", () => true).groups.length
  })
  const size = file === undefined ? "" : `, file ${(statSync(file).size / 1024 / 1024).toFixed(1)} MB`
  console.log(
    `${runtime} ${name}: open ${openMs.toFixed(1)} ms, 1,000-row batch p50 ${
      batchMs.toFixed(2)
    } ms, 7-day report (${groups} callers) p50 ${reportMs.toFixed(2)} ms${size}`
  )
  await store.close?.()
}

const dir = mkdtempSync(join(tmpdir(), "isartor-bench-usage-"))
try {
  const file = join(dir, "usage.db")
  await measure("sqlite", () => openSqliteUsageStore(file), file)
  await measure("memory", async () => makeMemoryStore())
} finally {
  rmSync(dir, { recursive: true, force: true })
}
