import { Context, Effect, Layer } from "effect"
import { LayerUnavailable } from "./errors.ts"

/**
 * A sentence encoder, provided by the runtime entrypoint (it loads weights from disk, which `core/` does not
 * touch). Vectors come back L2-normalised, so a dot product is the cosine.
 */
export interface EmbeddingBackend {
  readonly name: string
  readonly dimensions: number
  /** Longer input is cut to this many characters before it is embedded. */
  readonly maxInputChars: number
  readonly embed: (texts: ReadonlyArray<string>) => Promise<Array<Float32Array>>
  readonly dispose?: () => Promise<void>
}

export interface EmbedderStatus {
  readonly status: "ok" | "unavailable"
  readonly model: string
  readonly reason?: string
}

const MAX_BATCH = 32

interface Pending {
  readonly text: string
  readonly resolve: (vector: Float32Array) => void
  readonly reject: (error: unknown) => void
}

/** Embeds prompts for L1b. Concurrent requests are micro-batched: one backend call serves all that arrived together. */
export class Embedder extends Context.Service<Embedder, {
  readonly model: string
  readonly dimensions: number
  readonly embed: (text: string) => Effect.Effect<Float32Array, LayerUnavailable>
  readonly status: () => EmbedderStatus
}>()("isartor/Embedder") {
  static readonly make = (backend: EmbeddingBackend) => {
    let queue: Array<Pending> = []
    let scheduled = false
    let lastError: string | undefined
    const flush = async () => {
      scheduled = false
      while (queue.length > 0) {
        const batch = queue.slice(0, MAX_BATCH)
        queue = queue.slice(MAX_BATCH)
        try {
          // Identical prompts arriving together (a burst of the same question) are embedded once.
          const texts = [...new Set(batch.map((item) => item.text))]
          const vectors = await backend.embed(texts)
          const byText = new Map(texts.map((text, index) => [text, vectors[index]!]))
          lastError = undefined
          for (const item of batch) item.resolve(byText.get(item.text)!)
        } catch (error) {
          lastError = error instanceof Error ? error.message : String(error)
          for (const item of batch) item.reject(error)
        }
      }
    }
    const enqueue = (text: string) =>
      new Promise<Float32Array>((resolve, reject) => {
        queue.push({ text: text.slice(0, backend.maxInputChars), resolve, reject })
        if (!scheduled) {
          scheduled = true
          // One macrotask lets every request that arrived in this turn join the batch.
          setTimeout(flush, 0)
        }
      })
    return Embedder.of({
      model: backend.name,
      dimensions: backend.dimensions,
      embed: (text) =>
        Effect.tryPromise({
          try: () => enqueue(text),
          catch: (error) =>
            new LayerUnavailable({ layer: "l1b", reason: `embedder failed: ${error instanceof Error ? error.message : String(error)}` })
        }),
      status: () => (lastError === undefined
        ? { status: "ok", model: backend.name }
        : { status: "unavailable", model: backend.name, reason: lastError })
    })
  }

  static readonly layer = (backend: EmbeddingBackend) => Layer.succeed(Embedder, Embedder.make(backend))
}
