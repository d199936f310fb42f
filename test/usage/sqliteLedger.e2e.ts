import type { Database } from "node-sqlite3-wasm"
import assert from "node:assert/strict"
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { arch, platform, tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it, type TestContext } from "node:test"
import type { UsageReport } from "../../core/usage/UsageRow.ts"
import { chat } from "../cli/run.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { projectRoot, runtimeCommand, type RuntimeName, startProcess } from "../support/processes.ts"

// The ledger in its SQLite file, as each runtime and the single binary keep it: across a restart, and across a
// kill -9 once the second's batch is written.

const ADMIN_KEY = "admin-key-for-the-ledger-test"
const binary = join(projectRoot, "dist", `isartor-${platform()}-${arch()}`)

let upstream: FakeOpenAI
const dir = mkdtempSync(join(tmpdir(), "isartor-ledger-"))
before(async () => {
  upstream = await startFakeOpenAI()
})
after(async () => {
  await upstream?.close()
  rmSync(dir, { recursive: true, force: true })
})

const gatewayEnv = (extra: Record<string, string>) =>
  upstreamEnv(upstream.url, {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__CACHE_MODE: "exact",
    ISARTOR__ADMIN_API_KEY: ADMIN_KEY,
    ISARTOR__SHUTDOWN_DRAIN_SECS: "0",
    ...extra
  })

/** How a gateway is started: a runtime's entrypoint (Deno allowed to write the ledger's directory), or the binary. */
const commandFor = (runtime: RuntimeName | "binary", writable: string): Array<string> => {
  if (runtime === "binary") return [join(dir, "isartor"), "up"]
  const command = runtimeCommand(runtime, `runtimes/${runtime}.ts`)
  return runtime === "deno" ? [...command.slice(0, 2), `--allow-write=${writable}`, ...command.slice(2)] : command
}

/** Three requests: two questions bought upstream, one answered again from L1a. */
const askThree = async (url: string) => {
  const layers = []
  for (const question of ["What is a ledger?", "What is SQLite?", "What is a ledger?"]) {
    const response = await chat(url, question)
    await response.text()
    layers.push(response.headers.get("x-isartor-layer"))
  }
  assert.deepEqual(layers, ["l3", "l3", "l1a"])
}

const usage = async (url: string) => {
  const response = await fetch(`${url}/admin/usage?by=layer`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  assert.equal(response.status, 200)
  return ((await response.json()) as UsageReport).total
}

/** The rows in the file, read beside the gateway that writes it (read-only, as another process would). */
const rowsOnDisk = async (path: string) => {
  const sqlite = await import("node-sqlite3-wasm") as unknown as { default: { Database: typeof Database } }
  const db = new sqlite.default.Database(path, { readOnly: true })
  try {
    return Number(db.get("SELECT coalesce(sum(count), 0) AS rows FROM recent_batches")!.rows)
  } finally {
    db.close()
  }
}

const stopped = (process: Awaited<ReturnType<typeof startProcess>>, signal: NodeJS.Signals) =>
  new Promise<void>((resolve) => {
    process.child.once("exit", () => resolve())
    process.child.kill(signal)
  })

describe("the usage ledger in its SQLite file", () => {
  for (const runtime of ["node", "bun", "deno", "binary"] as const) {
    it(`${runtime}: keeps the ledger across a restart (usage.db in ISARTOR_HOME)`, async (t: TestContext) => {
      if (runtime === "binary") {
        const built = installed(t, existsSync(binary), `the single binary ${binary}`, "npm run build:binary")
        if (!built) return
        copyFileSync(binary, join(dir, "isartor"))
      }
      const home = join(dir, `home-${runtime}`)
      const env = gatewayEnv({ ISARTOR_HOME: home })
      const first = await startProcess(commandFor(runtime, home), env)
      try {
        await askThree(first.url)
      } finally {
        // SIGTERM: what the gateway buffered is written as it stops.
        await stopped(first, "SIGTERM")
      }
      // Written on a worker thread: the request loop does not wait on the file.
      assert.doesNotMatch(first.output(), /usage ledger: no worker thread/)
      // In ISARTOR_HOME, whoever started the gateway (the binary's `isartor up` passes it on).
      assert.ok(existsSync(join(home, "usage.db")), `no usage.db in ${home}:\n${first.output()}`)
      const second = await startProcess(commandFor(runtime, home), env)
      try {
        const total = await usage(second.url)
        assert.equal(total.requests, 3, first.output())
        assert.deepEqual(total.layers, { l3: 2, l1a: 1 })
        assert.equal(total.tokens_saved > 0, true)
      } finally {
        second.stop()
      }
    })
  }

  it("node: a kill -9 keeps every batch already written (one a second)", async () => {
    const path = join(dir, "killed", "usage.db")
    const env = gatewayEnv({ ISARTOR__USAGE_PATH: path })
    const first = await startProcess(commandFor("node", dir), env)
    try {
      await askThree(first.url)
      // No shutdown runs: the rows are on disk only if the second's batch wrote them.
      await eventually(async () => (await rowsOnDisk(path)) === 3, { what: "the three rows in usage.db" })
    } finally {
      await stopped(first, "SIGKILL")
    }
    const second = await startProcess(commandFor("node", dir), env)
    try {
      assert.deepEqual((await usage(second.url)).layers, { l3: 2, l1a: 1 })
    } finally {
      second.stop()
    }
  })

  it("node: a file that cannot be opened leaves the gateway serving, the ledger in memory, and says which", async () => {
    const blocker = join(dir, "not-a-directory")
    writeFileSync(blocker, "")
    const path = join(blocker, "usage.db")
    const gateway = await startProcess(commandFor("node", dir), gatewayEnv({ ISARTOR__USAGE_PATH: path }))
    try {
      assert.match(gateway.output(), new RegExp(`warning: usage ledger: cannot open ${path} .*kept in memory`))
      await askThree(gateway.url)
      assert.equal((await usage(gateway.url)).requests, 3)
    } finally {
      gateway.stop()
    }
  })
})
