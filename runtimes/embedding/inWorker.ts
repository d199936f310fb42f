import { once } from "node:events"
import { setTimeout } from "node:timers"
import { Worker } from "node:worker_threads"
import type { BackendStatus, EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import { logInfo, logWarning } from "../log.ts"
import type { TransformersChoice } from "./transformers.ts"
import { loadVocabulary, shippedFastStage } from "./useLiteStatic.ts"

/** What the worker is told: the model. */
export type WorkerChoice = TransformersChoice

interface Ready {
  readonly ready: true
  readonly name: string
  readonly dimensions: number
  readonly maxInputChars: number
}

type Reply = { readonly id: number; readonly vectors: Array<Float32Array> } | {
  readonly id: number
  readonly error: string
}
type FromWorker =
  | Ready
  | Reply
  | { readonly failed: string }

/** After a crash the worker is started again in 1 s, then 2, 4… up to 30 s while it keeps crashing. */
const FIRST_RESTART_MS = 1000
const MAX_RESTART_MS = 30_000
/** A worker that stayed up this long crashed for a new reason: its restart waits the first delay again. */
const STABLE_MS = 60_000

export interface WorkerEmbeddingBackend extends EmbeddingBackend {
  /** For tests: ends the worker thread as a crash would (the gateway did not ask); resolves once it is gone. */
  readonly crashForTesting: () => Promise<void>
}

type State =
  | { readonly kind: "starting" }
  | { readonly kind: "ready"; readonly since: number }
  | { readonly kind: "restarting"; readonly reason: string }
  | { readonly kind: "disposed" }

/**
 * The embedding model on a worker thread (`node:worker_threads`, which Node, Bun and Deno all provide): the
 * gateway's event loop keeps serving exact hits while a batch is embedded. Resolves once the worker has loaded
 * and warmed up the model; rejects when it cannot.
 *
 * A worker that dies later (a WASM abort, out of memory) is started again with backoff. Meanwhile every embed fails
 * at once and `status` says why. USE-lite's fast stage — all L1b's learned decision needs — runs on this thread from
 * the shipped table, ready before the worker is, and keeps running while the worker restarts.
 */
export const loadEmbedderInWorker = (
  entry: URL = new URL("./worker.ts", import.meta.url),
  choice: WorkerChoice = { model: "use-lite", modelPath: "", cacheDir: "" }
): Promise<WorkerEmbeddingBackend> =>
  new Promise((resolve, reject) => {
    // Only USE-lite has a fast stage: the shipped table, loaded here while the worker loads the model.
    const hasFastStage = choice.model === "use-lite" && choice.modelPath === ""
    const fastStage = hasFastStage ? loadVocabulary().then(shippedFastStage) : Promise.resolve(undefined)
    // Handled when the worker is ready; until then a failure must not count as unhandled.
    fastStage.catch(() => undefined)
    const pending = new Map<
      number,
      { resolve: (vectors: Array<Float32Array>) => void; reject: (error: Error) => void }
    >()
    let nextId = 0
    let state: State = { kind: "starting" }
    let worker: Worker
    /** Whether `worker`'s thread is still running (or starting): an exited one emits no 'exit' again. */
    let workerRunning = false
    let restartDelayMs = FIRST_RESTART_MS
    let restartTimer: ReturnType<typeof setTimeout> | undefined
    /** The worker `crashForTesting` is terminating: its last messages are not delivered. */
    let crashing: Worker | undefined

    const rejectPending = (error: Error) => {
      for (const waiter of pending.values()) waiter.reject(error)
      pending.clear()
    }

    const scheduleRestart = (reason: string) => {
      const now = Date.now()
      if (state.kind === "ready" && now - state.since >= STABLE_MS) restartDelayMs = FIRST_RESTART_MS
      const delayMs = restartDelayMs
      restartDelayMs = Math.min(restartDelayMs * 2, MAX_RESTART_MS)
      state = { kind: "restarting", reason: `${reason}; restarting it in ${delayMs / 1000} s` }
      rejectPending(new Error(reason))
      logWarning(`${reason}; L1b falls through to the next layer until it is restarted in ${delayMs / 1000} s`)
      restartTimer = setTimeout(() => {
        restartTimer = undefined
        if (state.kind !== "restarting") return
        state = { kind: "restarting", reason: `${reason}; restarting it (loading the model)` }
        spawn()
      }, delayMs)
      // A pending restart must not keep the process alive: shutdown disposes the embedder.
      restartTimer.unref()
    }

    const methods: Omit<WorkerEmbeddingBackend, "name" | "dimensions" | "maxInputChars"> = {
      embed: (texts) => {
        // Posting to a dead or loading worker would wait forever: fail now, and the request goes on.
        if (state.kind !== "ready") {
          const why = state.kind === "restarting" ? state.reason : `the embedding worker is ${state.kind}`
          return Promise.reject(new Error(why))
        }
        const current = worker
        return new Promise((resolveBatch, rejectBatch) => {
          const id = nextId++
          pending.set(id, { resolve: resolveBatch, reject: rejectBatch })
          current.postMessage({ id, texts: [...texts] })
        })
      },
      status: (): BackendStatus =>
        state.kind === "ready" ?
          { status: "ok" }
          : state.kind === "restarting" ?
          { status: "restarting", reason: state.reason }
          : { status: "unavailable", reason: `the embedding worker is ${state.kind}` },
      dispose: () => {
        state = { kind: "disposed" }
        if (restartTimer) clearTimeout(restartTimer)
        rejectPending(new Error("the embedding worker was stopped"))
        return worker.terminate().then(() => undefined)
      },
      crashForTesting: async () => {
        if (state.kind === "disposed" || !workerRunning) return
        // A thread that dies sends nothing more: an answer it had posted but not yet delivered is dropped with it,
        // as a real crash would, so a batch in flight is always the one the crash takes.
        crashing = worker
        const exited = once(worker, "exit")
        void worker.terminate()
        await exited
      }
    }

    const spawn = () => {
      const started = state.kind !== "starting"
      const current = new Worker(entry, { workerData: choice })
      worker = current
      workerRunning = true
      let cause: string | undefined
      current.on("error", (error) => {
        // 'exit' follows, and decides. (A worker that could not load the model also throws: its message says more.)
        cause ??= `crashed: ${error.message}`
      })
      current.on("exit", (code) => {
        if (current !== worker || state.kind === "disposed") return
        workerRunning = false
        const reason = `the embedding worker ${cause ?? `exited (code ${code})`}`
        if (state.kind === "starting") {
          reject(new Error(reason))
          return
        }
        scheduleRestart(reason)
      })
      current.on("message", (message: FromWorker) => {
        if (current !== worker || current === crashing || state.kind === "disposed") return
        if ("failed" in message) {
          // The model could not be loaded: the message says which path or variable to fix.
          if (state.kind === "starting") reject(new Error(message.failed))
          else cause ??= `could not load the model again: ${message.failed}`
          void current.terminate()
          return
        }
        if ("ready" in message) {
          const firstStart = state.kind === "starting"
          state = { kind: "ready", since: Date.now() }
          // Once loaded, the worker must not keep the process alive on its own: shutdown disposes it.
          current.unref()
          if (!firstStart) {
            logInfo("the embedding worker is running again")
            return
          }
          const { name, dimensions, maxInputChars } = message
          fastStage.then(
            (stage) =>
              resolve({
                name,
                dimensions,
                maxInputChars,
                ...methods,
                ...(stage
                  ? { fast: stage.encode, fastStage: { encoder: stage.encoder, dimensions: stage.dimensions } }
                  : {})
              }),
            (error: unknown) => {
              void methods.dispose?.()
              reject(
                new Error(
                  `cannot load the fast stage's table: ${error instanceof Error ? error.message : String(error)}`
                )
              )
            }
          )
          return
        }
        const waiter = pending.get(message.id)
        pending.delete(message.id)
        if ("error" in message) waiter?.reject(new Error(message.error))
        else waiter?.resolve(message.vectors)
      })
      // Nothing waits on a restart: it must not keep the process alive either. (After the listeners: adding a
      // 'message' listener refs the worker again on Node and Bun.)
      if (started) current.unref()
    }

    spawn()
  })
