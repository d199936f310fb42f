import { Worker } from "node:worker_threads"
import type { UsageRow } from "../../core/usage/UsageRow.ts"
import { rollupsOf, type UsageRollup, type UsageStore } from "../../core/usage/UsageStore.ts"
import { batchOf } from "./sqliteFile.ts"

/**
 * The worker's entrypoint: TypeScript as it is on Bun and Deno (in the single binary, the entrypoint embedded beside
 * the main one: cli/usageWorker.ts), through tsx's loader on Node.
 */
const usageWorkerEntry = () =>
  new URL("Bun" in globalThis || "Deno" in globalThis ? "./usageWorker.ts" : "./usageWorker-node.mjs", import.meta.url)

/**
 * A call of the gateway's thread: one of the SQLite store's methods, by name, with its arguments. A batch is posted
 * as `appendBytes`: its rows one JSON text in a buffer handed over to the worker (not copied), where an array of row
 * objects would be serialised field by field on this thread and rebuilt on the worker's.
 */
export interface UsageCall {
  readonly id: number
  readonly method: "appendBytes" | "rollups" | "recent" | "prune" | "close"
  readonly args: ReadonlyArray<unknown>
}

/** The worker started, and could not open the file: this thread could not either. */
export class FileNotOpened extends Error {}

type Settle = { readonly resolve: (value: unknown) => void; readonly reject: (error: Error) => void }
type FromWorker =
  | { readonly ready: true }
  | { readonly failed: string }
  | { readonly id: number; readonly value?: unknown; readonly error?: string }

/** A call posted to the worker, with the buffers handed over with it; settles with the worker's answer. */
type Call = (
  method: UsageCall["method"],
  args: ReadonlyArray<unknown>,
  transfer?: ReadonlyArray<ArrayBuffer>
) => Promise<unknown>

/** The bytes' buffer to hand over when it is theirs alone (a view into a shared one is copied instead). */
const ownBuffer = (bytes: Uint8Array): ReadonlyArray<ArrayBuffer> =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    ? [bytes.buffer]
    : []

/** The store over a started worker: each method a call posted, settled by the worker's answer. */
const storeOver = (
  worker: Worker,
  call: Call
): UsageStore => ({
  append: (rows, rollups) => {
    const batch = batchOf(rows)
    const summed = rollups ?? rollupsOf(rows)
    const posted = batch === undefined
      ? call("appendBytes", [new Uint8Array(0), 0, 0, 0, summed])
      : call("appendBytes", [batch.bytes, batch.count, batch.firstAt, batch.lastAt, summed], ownBuffer(batch.bytes))
    return posted.then(() => undefined)
  },
  rollups: (window) => call("rollups", [window]) as Promise<ReadonlyArray<UsageRollup>>,
  recent: (limit) => call("recent", [limit]) as Promise<ReadonlyArray<UsageRow>>,
  prune: (before) => call("prune", [before]).then(() => undefined),
  close: async () => {
    await call("close", []).catch(() => undefined)
    await worker.terminate()
  }
})

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
    const call: Call = (method, args, transfer = []) =>
      new Promise<unknown>((resolve, reject) => {
        if (ended !== undefined) return reject(ended)
        const id = next++
        pending.set(id, { resolve, reject })
        worker.postMessage({ id, method, args } satisfies UsageCall, transfer)
      })
    worker.on("message", (message: FromWorker) => {
      if ("ready" in message) return opened(storeOver(worker, call))
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
