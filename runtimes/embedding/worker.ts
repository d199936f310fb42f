// The embedding worker: loads the model once and embeds batches posted by the gateway's thread, so the
// request event loop never waits on a forward pass.
import { parentPort } from "node:worker_threads"
import { loadUseLite } from "./useLite.ts"

const port = parentPort!
const backend = await loadUseLite()
port.on("message", async (message: { id: number; texts: Array<string> }) => {
  try {
    const vectors = await backend.embed(message.texts)
    port.postMessage({ id: message.id, vectors })
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) })
  }
})
port.postMessage({ ready: true, name: backend.name, dimensions: backend.dimensions, maxInputChars: backend.maxInputChars })
