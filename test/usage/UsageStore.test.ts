import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeMemoryStore } from "../../core/usage/UsageStore.ts"
import { openSqliteUsageStore } from "../../runtimes/usage/sqliteStore.ts"
import { testUsageStore } from "../support/usageStoreSuite.ts"

testUsageStore("memory", async () => ({ store: makeMemoryStore(), close: async () => undefined }))

testUsageStore("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "isartor-usage-"))
  const store = await openSqliteUsageStore(join(dir, "usage.db"))
  return {
    store,
    close: async () => {
      await store.close?.()
      rmSync(dir, { recursive: true, force: true })
    }
  }
})
