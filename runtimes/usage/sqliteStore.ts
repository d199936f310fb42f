import { join } from "node:path"
import { makeMemoryStore, type UsageStore } from "../../core/usage/UsageStore.ts"
import { isartorHome } from "../home.ts"
import { logWarning } from "../log.ts"
import { openSqliteUsageStore } from "./sqliteFile.ts"
import { FileNotOpened, openSqliteUsageStoreInWorker } from "./workerStore.ts"

export { openSqliteUsageStore, SQLITE_FILES } from "./sqliteFile.ts"
export { openSqliteUsageStoreInWorker, type UsageCall } from "./workerStore.ts"

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error)

/** `usage_path`, or `usage.db` in ISARTOR_HOME when it is empty. */
export const usagePath = (path: string, env: Record<string, string | undefined>) =>
  path === "" ? join(isartorHome(env), "usage.db") : path

/**
 * The runtimes' `usageStore`: the SQLite file on a worker thread; on this thread when no worker starts (a bundle
 * without its entrypoint); or — when the file cannot be opened (a read-only directory, a runtime without write
 * permission) — a warning naming it and the ledger in memory: the gateway starts either way.
 */
export const openUsageStore = async (path: string, env: Record<string, string | undefined>): Promise<UsageStore> => {
  const file = usagePath(path, env)
  try {
    return await openSqliteUsageStoreInWorker(file).catch((error: unknown) => {
      if (error instanceof FileNotOpened) throw error
      logWarning(`usage ledger: no worker thread (${messageOf(error)}); ${file} is written on the request thread`)
      return openSqliteUsageStore(file)
    })
  } catch (error) {
    logWarning(`usage ledger: cannot open ${file} (${messageOf(error)}); it is kept in memory and lost on restart`)
    return makeMemoryStore()
  }
}
