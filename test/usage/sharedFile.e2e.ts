import type { Database } from "node-sqlite3-wasm"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { setTimeout as sleep } from "node:timers/promises"
import { chat } from "../cli/run.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { runtimeCommand, type StartedProcess, startProcess } from "../support/processes.ts"

// Two gateways of one ISARTOR_HOME — `isartor up` and `isartor proxy` both keep their ledger in its usage.db — write
// one file: each second's batches of both land in it, none lost to the other's lock and none counted twice.

let upstream: FakeOpenAI
const dir = mkdtempSync(join(tmpdir(), "isartor-shared-ledger-"))
before(async () => {
  upstream = await startFakeOpenAI()
})
after(async () => {
  await upstream?.close()
  rmSync(dir, { recursive: true, force: true })
})

const stopped = (process: StartedProcess) =>
  new Promise<void>((resolve) => {
    if (process.child.exitCode !== null) return resolve()
    process.child.once("exit", () => resolve())
    process.child.kill("SIGTERM")
  })

/** The requests the file's rollups count, per layer, and the rows its last batches keep. */
const onDisk = async (path: string) => {
  const sqlite = await import("node-sqlite3-wasm") as unknown as { default: { Database: typeof Database } }
  const db = new sqlite.default.Database(path, { readOnly: true })
  try {
    const layers = db.all("SELECT layer, sum(requests) AS requests FROM rollups GROUP BY layer ORDER BY layer")
    const rows = db.get("SELECT coalesce(sum(count), 0) AS rows FROM recent_batches")!.rows
    return { layers: Object.fromEntries(layers.map((row) => [row.layer, Number(row.requests)])), rows: Number(rows) }
  } finally {
    db.close()
  }
}

const ROUNDS = 4
const QUESTIONS = 6

describe("one usage file, two gateways", () => {
  it("keeps every request of both, once", async () => {
    const path = join(dir, "usage.db")
    const env = upstreamEnv(upstream.url, {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__USAGE_PATH: path,
      ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
    })
    const gateways = await Promise.all([0, 1].map(() => startProcess(runtimeCommand("node", "runtimes/node.ts"), env)))
    try {
      // Both at once, over several of their one-second flushes: each gateway's questions twice (a miss, then a hit).
      for (let round = 0; round < ROUNDS; round++) {
        await Promise.all(gateways.map(async (gateway, which) => {
          for (let index = 0; index < QUESTIONS; index++) {
            for (let time = 0; time < 2; time++) {
              const response = await chat(gateway.url, `gateway ${which}, round ${round}, question ${index}`)
              await response.text()
              assert.equal(response.headers.get("x-isartor-layer"), time === 0 ? "l3" : "l1a")
            }
          }
        }))
        await sleep(1100)
      }
    } finally {
      // SIGTERM: each writes what it buffered as it stops.
      await Promise.all(gateways.map(stopped))
    }
    const asked = ROUNDS * QUESTIONS * gateways.length
    for (const gateway of gateways) assert.doesNotMatch(gateway.output(), /usage ledger: .*failed/)
    assert.deepEqual(await onDisk(path), { layers: { l1a: asked, l3: asked }, rows: 2 * asked })
  })
})
