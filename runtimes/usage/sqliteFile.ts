import type { Database, Statement } from "node-sqlite3-wasm"
import { mkdirSync, readFileSync, rmdirSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import {
  hourOf,
  RECENT_ROWS,
  rollupsOf,
  SUM_FIELDS,
  type UsageRollup,
  type UsageStore
} from "../../core/usage/UsageStore.ts"

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

/**
 * The last rows are kept a batch to a row (one flush's, as one JSON array in UTF-8): a flush writes one value, not a
 * row per request, and trims whole batches. Bytes, not text: the library copies a bound string into SQLite's memory a
 * character at a time in JavaScript, and bytes in one copy. A file of the first version (a row per request in
 * `recent`) has its rows moved into one batch when opened.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS rollups (
  hour INTEGER NOT NULL, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, layer TEXT NOT NULL,
  ${SUM_FIELDS.map((field) => `${field} ${field.endsWith("_usd") ? "REAL" : "INTEGER"} NOT NULL`).join(", ")},
  PRIMARY KEY (hour, caller, provider, model, layer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_batches (
  id INTEGER PRIMARY KEY, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, count INTEGER NOT NULL, rows BLOB NOT NULL
);
`
const FROM_VERSION_1 = `
INSERT INTO recent_batches (first_at, last_at, count, rows)
  SELECT min(at), max(at), count(*), CAST(json_group_array(json(row) ORDER BY id) AS BLOB)
  FROM (SELECT id, at, row FROM recent ORDER BY id DESC LIMIT ${RECENT_ROWS}) HAVING count(*) > 0;
DROP TABLE recent;
`
const UPSERT = `INSERT INTO rollups VALUES (${Array(5 + SUM_FIELDS.length).fill("?").join(", ")})
  ON CONFLICT DO UPDATE SET ${SUM_FIELDS.map((field) => `${field} = ${field} + excluded.${field}`).join(", ")}`
/** Batches none of whose rows is among the last `RECENT_ROWS` (the rows newer than the batch are that many). */
const TRIM = `DELETE FROM recent_batches WHERE id < (
  SELECT coalesce(min(id), 0) FROM (SELECT id, count, sum(count) OVER (ORDER BY id DESC) AS newer FROM recent_batches)
  WHERE newer - count < ${RECENT_ROWS})`

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

const codeOf = (error: unknown) => error instanceof Error && "code" in error ? error.code : undefined

/**
 * The file's directory and its missing parents, made one by one. Not `mkdirSync(…, { recursive: true })`: Node's
 * loops forever where a parent exists but refuses children with ENOENT (under /proc), and the gateway never started.
 */
const makeDirectory = (directory: string): void => {
  try {
    mkdirSync(directory)
    return
  } catch (error) {
    if (codeOf(error) === "EEXIST") return
    const parent = dirname(directory)
    if (codeOf(error) !== "ENOENT" || parent === directory) throw error
  }
  makeDirectory(dirname(directory))
  // Once only: a directory that still cannot be made fails the opening (the ledger is kept in memory).
  mkdirSync(directory)
}

/** Another process holds the file's lock (a second gateway of one ISARTOR_HOME, writing its second's batch). */
const isBusy = (error: unknown) => error instanceof Error && /database is locked/.test(error.message)
const BUSY_TRIES = 50

/**
 * The work, tried again while another process holds the file's lock: the library's VFS cannot sleep, so SQLite's
 * `busy_timeout` would give up at once. A lock is held for one transaction (milliseconds): short waits, jittered so
 * two writers part.
 */
const whenFree = async <A>(work: () => A): Promise<A> => {
  for (let tries = 1;; tries++) {
    try {
      return work()
    } catch (error) {
      if (!isBusy(error) || tries >= BUSY_TRIES) throw error
      await sleep(5 + Math.random() * 20)
    }
  }
}

/** One transaction, all or nothing, taken when the file is free. */
const transaction = (db: Database, work: () => void): Promise<void> =>
  whenFree(() => {
    db.exec("BEGIN IMMEDIATE")
    try {
      work()
      db.exec("COMMIT")
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK")
      throw error
    }
  })

/** Opens the file with its tables (moving a first version's rows), or closes it and throws. */
const openDatabase = async (path: string): Promise<Database> => {
  const { Database } = await loadSqlite()
  makeDirectory(dirname(path))
  removeStaleLock(path)
  const db: Database = new Database(path)
  try {
    await whenFree(() => db.exec("PRAGMA journal_mode = TRUNCATE; PRAGMA synchronous = NORMAL;"))
    await transaction(db, () => {
      db.exec(SCHEMA)
      if (db.get("SELECT 1 AS found FROM sqlite_master WHERE name = 'recent'") !== null) db.exec(FROM_VERSION_1)
      db.exec("PRAGMA user_version = 2")
    })
  } catch (error) {
    db.close()
    throw error
  }
  return db
}

/**
 * The store's own method beside `append`: a batch whose rows are JSON already (`JSON.stringify` of the rows, oldest
 * first, in UTF-8) with how many they are and their first and last `at` — what the worker's caller posts: one buffer,
 * handed over rather than copied.
 */
export type AppendBytes = (
  bytes: Uint8Array,
  count: number,
  firstAt: number,
  lastAt: number,
  rollups: ReadonlyArray<UsageRollup>
) => Promise<void>

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const NO_BYTES = new Uint8Array(0)

/** A batch's last rows as `AppendBytes` takes them (at most `RECENT_ROWS`); `undefined` when there are none. */
export const batchOf = (rows: ReadonlyArray<UsageRow>) => {
  const kept = rows.length > RECENT_ROWS ? rows.slice(-RECENT_ROWS) : rows
  if (kept.length === 0) return undefined
  let firstAt = kept[0]!.at
  let lastAt = firstAt
  for (const row of kept) {
    if (row.at < firstAt) firstAt = row.at
    if (row.at > lastAt) lastAt = row.at
  }
  return { bytes: encoder.encode(JSON.stringify(kept)), count: kept.length, firstAt, lastAt }
}

/** The last rows, newest first, from the batches kept (read whole: a statement left open would hold the lock). */
const rowsOf = (value: unknown) =>
  JSON.parse(typeof value === "string" ? value : decoder.decode(value as Uint8Array)) as Array<UsageRow>

const readRecent = (batches: Statement, limit: number): Array<UsageRow> => {
  const found: Array<UsageRow> = []
  for (const batch of batches.all()) {
    const rows = rowsOf(batch.rows)
    for (let index = rows.length - 1; index >= 0 && found.length < limit; index--) found.push(rows[index]!)
    if (found.length >= limit) break
  }
  return found
}

/** Forgets rows older than `before`: whole batches, and the older rows of a batch that straddles it. */
const pruneRows = (db: Database, before: number) => {
  db.run("DELETE FROM recent_batches WHERE last_at < ?", [before])
  const straddling = db.all("SELECT id, rows FROM recent_batches WHERE first_at < ?", [before])
  for (const batch of straddling) {
    const rows = rowsOf(batch.rows).filter((row) => row.at >= before)
    const firstAt = Math.min(...rows.map((row) => row.at))
    db.run("UPDATE recent_batches SET first_at = ?, count = ?, rows = ? WHERE id = ?", [
      firstAt,
      rows.length,
      encoder.encode(JSON.stringify(rows)),
      batch.id as number
    ])
  }
}

export type SqliteUsageStore = UsageStore & { readonly appendBytes: AppendBytes }

/**
 * The ledger in one SQLite file: hourly rollups upserted and the last `RECENT_ROWS` rows, one transaction per
 * batch. The VFS has no shared memory, so no WAL: a rollback journal truncated after each commit, and
 * `synchronous = NORMAL` (a batch a second, off the request path; a killed process loses nothing committed).
 */
export const openSqliteUsageStore = async (path: string): Promise<SqliteUsageStore> => {
  const db = await openDatabase(path)
  const statements: Array<Statement> = []
  const prepare = (sql: string) => {
    const statement = db.prepare(sql)
    statements.push(statement)
    return statement
  }
  const upsert = prepare(UPSERT)
  const insertBatch = prepare("INSERT INTO recent_batches (first_at, last_at, count, rows) VALUES (?, ?, ?, ?)")
  const trim = prepare(TRIM)
  const selectRollups = prepare("SELECT * FROM rollups WHERE hour >= ? AND hour < ?")
  const selectBatches = prepare("SELECT rows FROM recent_batches ORDER BY id DESC")
  const appendBytes: AppendBytes = (bytes, count, firstAt, lastAt, rollups) =>
    transaction(db, () => {
      for (const rollup of rollups) {
        const { caller, hour, layer, model, provider } = rollup
        upsert.run([hour, caller, provider, model, layer, ...SUM_FIELDS.map((field) => rollup[field])])
      }
      if (count === 0) return
      insertBatch.run([firstAt, lastAt, count, bytes])
      trim.run()
    })
  return {
    appendBytes,
    append: async (rows, summed) => {
      const batch = batchOf(rows)
      const rollups = summed ?? rollupsOf(rows)
      return batch === undefined
        ? appendBytes(NO_BYTES, 0, 0, 0, rollups)
        : appendBytes(batch.bytes, batch.count, batch.firstAt, batch.lastAt, rollups)
    },
    rollups: ({ since, until }) =>
      whenFree(() => selectRollups.all([hourOf(since), until]) as unknown as Array<UsageRollup>),
    recent: async (limit) => limit <= 0 ? [] : whenFree(() => readRecent(selectBatches, Math.min(limit, RECENT_ROWS))),
    prune: (before) =>
      transaction(db, () => {
        db.run("DELETE FROM rollups WHERE hour < ?", [hourOf(before)])
        pruneRows(db, before)
      }),
    close: async () => {
      for (const statement of statements) statement.finalize()
      db.close()
    }
  }
}
