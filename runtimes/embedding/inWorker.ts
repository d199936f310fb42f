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

type Waiter = { resolve: (vectors: Array<Float32Array>) => void; reject: (error: Error) => void }

/** What the first start is waiting for: the first worker ready (with what it said), or its failure. */
interface FirstStart {
  readonly ready: (message: Ready) => void
  readonly failed: (error: Error) => void
}

/**
 * One embedding worker thread at a time: starts it, sends it batches and routes the answers back, and after a crash
 * fails every batch at once while it waits, then starts the worker again.
 */
class WorkerSupervisor {
  private readonly pending = new Map<number, Waiter>()
  private nextId = 0
  private state: State = { kind: "starting" }
  private worker: Worker | undefined
  /** Whether `worker`'s thread is still running (or starting): an exited one emits no 'exit' again. */
  private workerRunning = false
  private restartDelayMs = FIRST_RESTART_MS
  private restartTimer: ReturnType<typeof setTimeout> | undefined
  /** The worker `crashForTesting` is terminating: its last messages are not delivered. */
  private crashing: Worker | undefined
  private readonly entry: URL
  private readonly choice: WorkerChoice
  private readonly firstStart: FirstStart

  constructor(entry: URL, choice: WorkerChoice, firstStart: FirstStart) {
    this.entry = entry
    this.choice = choice
    this.firstStart = firstStart
  }

  /** The backend's methods, bound to this supervisor. */
  methods(): Omit<WorkerEmbeddingBackend, "name" | "dimensions" | "maxInputChars"> {
    return {
      embed: (texts) => this.embed(texts),
      status: () => this.status(),
      dispose: () => this.dispose(),
      crashForTesting: () => this.crashForTesting()
    }
  }

  embed(texts: ReadonlyArray<string>): Promise<Array<Float32Array>> {
    // Posting to a dead or loading worker would wait forever: fail now, and the request goes on.
    if (this.state.kind !== "ready") {
      const why = this.state.kind === "restarting" ? this.state.reason : `the embedding worker is ${this.state.kind}`
      return Promise.reject(new Error(why))
    }
    const current = this.worker!
    return new Promise((resolveBatch, rejectBatch) => {
      const id = this.nextId++
      this.pending.set(id, { resolve: resolveBatch, reject: rejectBatch })
      current.postMessage({ id, texts: [...texts] })
    })
  }

  status(): BackendStatus {
    const state = this.state
    return state.kind === "ready" ?
      { status: "ok" }
      : state.kind === "restarting" ?
      { status: "restarting", reason: state.reason }
      : { status: "unavailable", reason: `the embedding worker is ${state.kind}` }
  }

  dispose(): Promise<void> {
    this.state = { kind: "disposed" }
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.rejectPending(new Error("the embedding worker was stopped"))
    return this.worker!.terminate().then(() => undefined)
  }

  async crashForTesting(): Promise<void> {
    const worker = this.worker
    if (this.state.kind === "disposed" || !this.workerRunning || !worker) return
    // A thread that dies sends nothing more: an answer it had posted but not yet delivered is dropped with it,
    // as a real crash would, so a batch in flight is always the one the crash takes.
    this.crashing = worker
    const exited = once(worker, "exit")
    void worker.terminate()
    await exited
  }

  /** Starts a worker thread, the first or one after a crash. */
  spawn(): void {
    const started = this.state.kind !== "starting"
    const current = new Worker(this.entry, { workerData: this.choice })
    this.worker = current
    this.workerRunning = true
    /** Why this thread ended, when it said or threw before it did. */
    const life: { cause?: string } = {}
    current.on("error", (error) => {
      // 'exit' follows, and decides. (A worker that could not load the model also throws: its message says more.)
      life.cause ??= `crashed: ${error.message}`
    })
    current.on("exit", (code) => this.onExit(current, code, life))
    current.on("message", (message: FromWorker) => this.onMessage(current, message, life))
    // Nothing waits on a restart: it must not keep the process alive either. (After the listeners: adding a
    // 'message' listener refs the worker again on Node and Bun.)
    if (started) current.unref()
  }

  private onExit(current: Worker, code: number, life: { cause?: string }): void {
    if (current !== this.worker || this.state.kind === "disposed") return
    this.workerRunning = false
    const reason = `the embedding worker ${life.cause ?? `exited (code ${code})`}`
    if (this.state.kind === "starting") this.firstStart.failed(new Error(reason))
    else this.scheduleRestart(reason)
  }

  private onMessage(current: Worker, message: FromWorker, life: { cause?: string }): void {
    if (current !== this.worker || current === this.crashing || this.state.kind === "disposed") return
    if ("failed" in message) {
      // The model could not be loaded: the message says which path or variable to fix.
      if (this.state.kind === "starting") this.firstStart.failed(new Error(message.failed))
      else life.cause ??= `could not load the model again: ${message.failed}`
      void current.terminate()
      return
    }
    if ("ready" in message) {
      const firstStart = this.state.kind === "starting"
      this.state = { kind: "ready", since: Date.now() }
      // Once loaded, the worker must not keep the process alive on its own: shutdown disposes it.
      current.unref()
      if (firstStart) this.firstStart.ready(message)
      else logInfo("the embedding worker is running again")
      return
    }
    const waiter = this.pending.get(message.id)
    this.pending.delete(message.id)
    if ("error" in message) waiter?.reject(new Error(message.error))
    else waiter?.resolve(message.vectors)
  }

  private rejectPending(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }

  private scheduleRestart(reason: string): void {
    const now = Date.now()
    if (this.state.kind === "ready" && now - this.state.since >= STABLE_MS) this.restartDelayMs = FIRST_RESTART_MS
    const delayMs = this.restartDelayMs
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_MS)
    this.state = { kind: "restarting", reason: `${reason}; restarting it in ${delayMs / 1000} s` }
    this.rejectPending(new Error(reason))
    logWarning(`${reason}; L1b falls through to the next layer until it is restarted in ${delayMs / 1000} s`)
    const timer = setTimeout(() => {
      this.restartTimer = undefined
      if (this.state.kind !== "restarting") return
      this.state = { kind: "restarting", reason: `${reason}; restarting it (loading the model)` }
      this.spawn()
    }, delayMs)
    this.restartTimer = timer
    // A pending restart must not keep the process alive: shutdown disposes the embedder.
    timer.unref()
  }
}

/**
 * The embedding model on a worker thread (`node:worker_threads`, which Node, Bun and Deno all provide): the
 * gateway's event loop keeps serving exact hits while a batch is embedded. Resolves once the worker has loaded
 * and warmed up the model; rejects when it cannot.
 *
 * A worker that dies later (a WASM abort, out of memory) is started again with backoff. Meanwhile every embed fails
 * at once and `status` says why. USE-lite's fast stage — all L1b's learned decision needs — runs on this thread from
 * the shipped table, ready before the worker is, and keeps running while the worker restarts.
 */
export const loadEmbedderInWorker = async (
  entry: URL = new URL("./worker.ts", import.meta.url),
  choice: WorkerChoice = { model: "use-lite", modelPath: "", cacheDir: "" }
): Promise<WorkerEmbeddingBackend> => {
  // Only USE-lite has a fast stage: the shipped table, loaded here while the worker loads the model.
  const hasFastStage = choice.model === "use-lite" && choice.modelPath === ""
  const fastStage = hasFastStage ? loadVocabulary().then(shippedFastStage) : Promise.resolve(undefined)
  // Handled when the worker is ready; until then a failure must not count as unhandled.
  fastStage.catch(() => undefined)
  let supervisor: WorkerSupervisor | undefined
  const { name, dimensions, maxInputChars } = await new Promise<Ready>((ready, failed) => {
    supervisor = new WorkerSupervisor(entry, choice, { ready, failed })
    supervisor.spawn()
  })
  const methods = supervisor!.methods()
  const stage = await fastStage.catch((error: unknown) => {
    void methods.dispose?.()
    throw new Error(`cannot load the fast stage's table: ${error instanceof Error ? error.message : String(error)}`)
  })
  return {
    name,
    dimensions,
    maxInputChars,
    ...methods,
    ...(stage ? { fast: stage.encode, fastStage: { encoder: stage.encoder, dimensions: stage.dimensions } } : {})
  }
}
