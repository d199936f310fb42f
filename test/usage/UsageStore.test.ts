import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeMemoryStore, type UsageStore } from "../../core/usage/UsageStore.ts"
import { openSqliteUsageStore, openSqliteUsageStoreInWorker } from "../../runtimes/usage/sqliteStore.ts"
import { testUsageStore } from "../support/usageStoreSuite.ts"

testUsageStore("memory", async () => ({ store: makeMemoryStore(), close: async () => undefined }))

const sqlite = (open: (path: string) => Promise<UsageStore>) => async () => {
  const dir = mkdtempSync(join(tmpdir(), "isartor-usage-"))
  const store = await open(join(dir, "usage.db"))
  return {
    store,
    close: async () => {
      await store.close?.()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

testUsageStore("sqlite", sqlite(openSqliteUsageStore))

// The runtimes' store: the same file, written on a worker thread.
testUsageStore("sqlite on a worker thread", sqlite((path) => openSqliteUsageStoreInWorker(path)))
