import { Worker } from "node:worker_threads"
import type { EmbeddingBackend } from "../../core/Embedder.ts"
import type { TransformersChoice } from "./transformers.ts"
import { loadVocabulary, staticEncoder } from "./useLiteStatic.ts"

interface Ready {
  readonly ready: true
  readonly name: string
  readonly dimensions: number
  readonly maxInputChars: number
}

type Reply = { readonly id: number; readonly vectors: Array<Float32Array> } | { readonly id: number; readonly error: string }

/**
 * The embedding model on a worker thread (`node:worker_threads`, which Node, Bun and Deno all provide): the
 * gateway's event loop keeps serving exact hits while a batch is embedded. Resolves once the worker has loaded
 * and warmed up the model.
 */
export const loadEmbedderInWorker = (
  entry: URL = new URL("./worker.ts", import.meta.url),
  choice: TransformersChoice & { readonly tableCacheDir?: string | undefined } = { model: "use-lite", modelPath: "", cacheDir: "" }
): Promise<EmbeddingBackend> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData: choice })
    const pending = new Map<number, { resolve: (vectors: Array<Float32Array>) => void; reject: (error: Error) => void }>()
    let nextId = 0
    let ready = false
    worker.on("error", (error) => {
      if (!ready) reject(error)
      for (const waiter of pending.values()) waiter.reject(error)
      pending.clear()
    })
    worker.on("exit", (code) => {
      const error = new Error(`embedding worker exited (code ${code})`)
      if (!ready) reject(error)
      for (const waiter of pending.values()) waiter.reject(error)
      pending.clear()
    })
    let fast: ((text: string) => Float32Array) | undefined
    worker.on("message", (message: Ready | Reply | { readonly failed: string } | { readonly staticTable: Float32Array; readonly warning?: string }) => {
      if ("staticTable" in message) {
        if (message.warning) console.warn(`isartor: warning: ${message.warning}`)
        // USE-lite's fast first stage is ready: it runs on this thread from now on.
        void loadVocabulary().then((vocabulary) => (fast = staticEncoder(vocabulary, message.staticTable)), () => undefined)
        return
      }
      if ("failed" in message) {
        // The model could not be loaded: the message says which path or variable to fix.
        reject(new Error(message.failed))
        void worker.terminate()
        return
      }
      if ("ready" in message) {
        ready = true
        // Once loaded, the worker must not keep the process alive on its own: shutdown disposes it.
        worker.unref()
        resolve({
          name: message.name,
          dimensions: message.dimensions,
          maxInputChars: message.maxInputChars,
          embed: (texts) =>
            new Promise((resolveBatch, rejectBatch) => {
              const id = nextId++
              pending.set(id, { resolve: resolveBatch, reject: rejectBatch })
              worker.postMessage({ id, texts: [...texts] })
            }),
          fast: (text) => fast?.(text),
          dispose: () => worker.terminate().then(() => undefined)
        })
        return
      }
      const waiter = pending.get(message.id)
      pending.delete(message.id)
      if ("error" in message) waiter?.reject(new Error(message.error))
      else waiter?.resolve(message.vectors)
    })
  })
