import type { Database, Statement } from "node-sqlite3-wasm"
import { mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import {
  hourOf,
  makeMemoryStore,
  RECENT_ROWS,
  rollupsOf,
  SUM_FIELDS,
  type UsageRollup,
  type UsageStore
} from "../../core/usage/UsageStore.ts"
import { isartorHome } from "../home.ts"
import { logWarning } from "../log.ts"

type Sqlite = typeof import("node-sqlite3-wasm")

/** The library's files, as the single binary embeds them flat beside its entrypoints (cli/build.ts). */
export const SQLITE_FILES = ["node-sqlite3-wasm.wasm", "node-sqlite3-wasm.js"] as const

/**
 * node-sqlite3-wasm: SQLite compiled to WASM, the same on Node, Bun, Deno and the single binary (bench/README.md,
 * docs/dependencies.md). It reads its WASM from `__dirname`, which `bun build --compile` bakes in as the build
 * machine's path; in the binary its file is therefore evaluated with the binary's own directory instead.
 */
const loadSqlite = async (): Promise<Sqlite> => {
  if (!/\$bunfs|~BUN/.test(import.meta.url)) {
    const module = await import("node-sqlite3-wasm") as Sqlite & { readonly default?: Sqlite }
    return module.default ?? module
  }
  const here = dirname(fileURLToPath(import.meta.url))
  const file = join(here, SQLITE_FILES[1])
  const module = { exports: {} as Sqlite }
  const evaluate = new Function("module", "exports", "require", "__dirname", "__filename", readFileSync(file, "utf8"))
  evaluate(module, module.exports, createRequire(import.meta.url), here, file)
  return module.exports
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rollups (
  hour INTEGER NOT NULL, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, layer TEXT NOT NULL,
  ${SUM_FIELDS.map((field) => `${field} ${field.endsWith("_usd") ? "REAL" : "INTEGER"} NOT NULL`).join(", ")},
  PRIMARY KEY (hour, caller, provider, model, layer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, row TEXT NOT NULL);
PRAGMA user_version = 1;
`
const UPSERT = `INSERT INTO rollups VALUES (${Array(5 + SUM_FIELDS.length).fill("?").join(", ")})
  ON CONFLICT DO UPDATE SET ${SUM_FIELDS.map((field) => `${field} = ${field} + excluded.${field}`).join(", ")}`

/**
 * The lock the library's VFS takes is a `<file>.lock` directory, held for one transaction (milliseconds). One that
 * old was left by a process killed inside a transaction, and would refuse every write until removed.
 */
const STALE_LOCK_MS = 10_000

const removeStaleLock = (path: string) => {
  try {
    if (Date.now() - statSync(`${path}.lock`).mtimeMs > STALE_LOCK_MS) rmdirSync(`${path}.lock`)
  } catch {
    // No lock, or another process's just now: nothing to remove.
  }
}

/**
 * The ledger in one SQLite file: hourly rollups upserted and the last `RECENT_ROWS` rows, one transaction per
 * batch. The VFS has no shared memory, so no WAL: a rollback journal truncated after each commit, and
 * `synchronous = NORMAL` (a batch a second, off the request path; a killed process loses nothing committed).
 */
export const openSqliteUsageStore = async (path: string): Promise<UsageStore> => {
  const { Database } = await loadSqlite()
  mkdirSync(dirname(path), { recursive: true })
  removeStaleLock(path)
  const db: Database = new Database(path)
  const statements: Array<Statement> = []
  const prepare = (sql: string) => {
    const statement = db.prepare(sql)
    statements.push(statement)
    return statement
  }
  try {
    db.exec("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = NORMAL;")
    db.exec(SCHEMA)
  } catch (error) {
    db.close()
    throw error
  }
  const upsert = prepare(UPSERT)
  const insertRow = prepare("INSERT INTO recent (at, row) VALUES (?, ?)")
  const trimRows = prepare(`DELETE FROM recent WHERE id <= (SELECT max(id) FROM recent) - ${RECENT_ROWS}`)
  const selectRollups = prepare("SELECT * FROM rollups WHERE hour >= ? AND hour < ?")
  const selectRecent = prepare("SELECT row FROM recent ORDER BY id DESC LIMIT ?")
  const pruneRollups = prepare("DELETE FROM rollups WHERE hour < ?")
  const pruneRows = prepare("DELETE FROM recent WHERE at < ?")

  const transaction = (work: () => void) => {
    db.exec("BEGIN IMMEDIATE")
    try {
      work()
      db.exec("COMMIT")
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK")
      throw error
    }
  }

  return {
    append: async (rows: ReadonlyArray<UsageRow>, summed?: ReadonlyArray<UsageRollup>) =>
      transaction(() => {
        for (const rollup of summed ?? rollupsOf(rows)) {
          upsert.run([
            rollup.hour,
            rollup.caller,
            rollup.provider,
            rollup.model,
            rollup.layer,
            ...SUM_FIELDS.map((field) => rollup[field])
          ])
        }
        // Only the last rows are kept: a backlog (a store that was down) inserts no more than that.
        for (const row of rows.slice(-RECENT_ROWS)) insertRow.run([row.at, JSON.stringify(row)])
        trimRows.run()
      }),
    rollups: async ({ since, until }) => selectRollups.all([hourOf(since), until]) as unknown as Array<UsageRollup>,
    recent: async (limit) =>
      limit <= 0
        ? []
        : selectRecent.all([Math.min(limit, RECENT_ROWS)]).map((found) => JSON.parse(found.row as string) as UsageRow),
    prune: async (before) =>
      transaction(() => {
        pruneRollups.run([hourOf(before)])
        pruneRows.run([before])
      }),
    close: async () => {
      for (const statement of statements) statement.finalize()
      db.close()
    }
  }
}

/**
 * The worker's entrypoint: TypeScript as it is on Bun and Deno (in the single binary, the entrypoint embedded beside
 * the main one: cli/usageWorker.ts), through tsx's loader on Node.
 */
const usageWorkerEntry = () =>
  new URL("Bun" in globalThis || "Deno" in globalThis ? "./usageWorker.ts" : "./usageWorker-node.mjs", import.meta.url)

/** A call of the gateway's thread: one of the store's methods, by name, with its arguments. */
export interface UsageCall {
  readonly id: number
  readonly method: "append" | "rollups" | "recent" | "prune" | "close"
  readonly args: ReadonlyArray<unknown>
}

/** The worker started, and could not open the file: this thread could not either. */
class FileNotOpened extends Error {}

type Settle = { readonly resolve: (value: unknown) => void; readonly reject: (error: Error) => void }
type FromWorker =
  | { readonly ready: true }
  | { readonly failed: string }
  | { readonly id: number; readonly value?: unknown; readonly error?: string }

/**
 * The SQLite store on a worker thread (`node:worker_threads`, which Node, Bun and Deno all provide; in the single
 * binary its entrypoint sits beside the main one, as the embedding worker's does): the same store, its calls posted.
 * Its writes no longer pause the request loop — a batch of the last 1,000 rows is a file write of hundreds of KB
 * and a sync each second. Rejects when the worker cannot open the file; a worker that dies later fails each call
 * (the ledger keeps its batches and says so).
 */
export const openSqliteUsageStoreInWorker = (path: string, entry: URL = usageWorkerEntry()): Promise<UsageStore> =>
  new Promise((opened, failed) => {
    const worker = new Worker(entry, { workerData: path })
    const pending = new Map<number, Settle>()
    let next = 0
    let ended: Error | undefined
    const end = (error: Error) => {
      ended ??= error
      for (const settle of pending.values()) settle.reject(ended)
      pending.clear()
      failed(ended)
    }
    worker.on("error", (error) => end(new Error(`the usage ledger's worker failed: ${error.message}`)))
    worker.on("exit", (code) => end(new Error(`the usage ledger's worker exited (code ${code})`)))
    const call = (method: UsageCall["method"], ...args: ReadonlyArray<unknown>) =>
      new Promise<unknown>((resolve, reject) => {
        if (ended !== undefined) return reject(ended)
        const id = next++
        pending.set(id, { resolve, reject })
        worker.postMessage({ id, method, args } satisfies UsageCall)
      })
    worker.on("message", (message: FromWorker) => {
      if ("ready" in message) {
        opened({
          append: (rows, rollups) => call("append", rows, rollups).then(() => undefined),
          rollups: (window) => call("rollups", window) as Promise<ReadonlyArray<UsageRollup>>,
          recent: (limit) => call("recent", limit) as Promise<ReadonlyArray<UsageRow>>,
          prune: (before) => call("prune", before).then(() => undefined),
          close: async () => {
            await call("close").catch(() => undefined)
            await worker.terminate()
          }
        })
        return
      }
      if ("failed" in message) {
        void worker.terminate()
        return end(new FileNotOpened(message.failed))
      }
      const settle = pending.get(message.id)
      pending.delete(message.id)
      if (message.error === undefined) settle?.resolve(message.value)
      else settle?.reject(new Error(message.error))
    })
  })

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
