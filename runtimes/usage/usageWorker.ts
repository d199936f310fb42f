// The usage ledger's SQLite file on a worker thread: the gateway's thread posts each second's batch and goes on
// serving while this one writes it (the file's writes are synchronous, and would pause the request loop).
import { parentPort, workerData } from "node:worker_threads"
import { openSqliteUsageStore, type SqliteUsageStore } from "./sqliteFile.ts"
import type { UsageCall } from "./workerStore.ts"

const port = parentPort!

/** One call at a time, in the order posted: a batch, then the read that follows it, see the same file. */
const serve = (store: SqliteUsageStore) => {
  let queue: Promise<unknown> = Promise.resolve()
  port.on("message", (call: UsageCall) => {
    queue = queue.then(async () => {
      try {
        const run = store[call.method] as (...args: ReadonlyArray<unknown>) => Promise<unknown>
        port.postMessage({ id: call.id, value: await run(...call.args) })
      } catch (error) {
        port.postMessage({ id: call.id, error: error instanceof Error ? error.message : String(error) })
      }
    })
  })
  port.postMessage({ ready: true })
}

// A file that cannot be opened is said to the gateway's thread, which keeps the ledger in memory and warns in its
// own log format and ends this worker — rethrowing would print an uncaught error (Deno without --allow-write), a
// line outside the gateway's log format.
await openSqliteUsageStore(workerData as string).then(serve, (error: unknown) => {
  port.postMessage({ failed: error instanceof Error ? error.message : String(error) })
})
