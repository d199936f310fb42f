import { Context, Effect, Layer } from "effect"
import { LRUCache } from "lru-cache"
import { LayerUnavailable, messageOf } from "../domain/errors.ts"

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
  /**
   * A fast approximation of `embed` (a static distillation of the model), on the calling thread; `undefined` while
   * it is not ready yet, or for a model that has none.
   */
  readonly fast?: (text: string) => Float32Array | undefined
  /** What `fast` is: its encoder id and version (L1b entries record it) and its vectors' length. */
  readonly fastStage?: FastStage | undefined
  readonly dispose?: () => Promise<void>
  /**
   * Whether `embed` can answer now; absent means always. A backend that restarts itself after a crash (the worker
   * thread) reports "restarting", with why, until it is back.
   */
  readonly status?: () => BackendStatus
}

export interface FastStage {
  /** `<name>/<table digest>`: entries of another encoder are never compared with this one's. */
  readonly encoder: string
  readonly dimensions: number
}

export type BackendStatus =
  | { readonly status: "ok" }
  | { readonly status: "restarting" | "unavailable"; readonly reason: string }

export interface EmbedderStatus {
  readonly status: "ok" | "restarting" | "unavailable"
  readonly model: string
  readonly reason?: string
}

const MAX_BATCH = 32
/** A vector takes 20–40 ms, a full batch about a second under load: ten seconds only ever catches a stuck backend. */
const EMBED_TIMEOUT_MS = 10_000
/** Vectors of the latest prompts kept for reuse (2 KB each at 512 dimensions). */
const RECENT_VECTORS = 1024

interface Pending {
  readonly text: string
  readonly resolve: (vector: Float32Array) => void
  readonly reject: (error: unknown) => void
}

/**
 * The start of a long text as a string of its own: a plain `slice` may keep the whole text alive behind the short
 * one (V8's sliced strings), and the recent-vectors cache would then hold every long prompt it has seen.
 */
const cut = (text: string, length: number) =>
  text.length <= length ? text : JSON.parse(JSON.stringify(text.slice(0, length))) as string

/** The backend's status when it says it cannot answer now; `undefined` when it can (or does not say). */
const backendDown = (backend: EmbeddingBackend) => {
  const current = backend.status?.()
  return current && current.status !== "ok" ? current : undefined
}

/**
 * Micro-batching over `backend.embed`: the prompts enqueued in one turn of the event loop share one backend call.
 * `lastError` is the latest batch's failure, until a batch succeeds.
 */
const microBatches = (backend: EmbeddingBackend) => {
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
        // A batch lost to a crashed backend is reported by the backend's own status, which clears on its restart.
        lastError = backendDown(backend) ? undefined : messageOf(error)
        for (const item of batch) item.reject(error)
      }
    }
  }
  const enqueue = (text: string) =>
    new Promise<Float32Array>((resolve, reject) => {
      queue.push({ text, resolve, reject })
      if (!scheduled) {
        scheduled = true
        // One macrotask lets every request that arrived in this turn join the batch.
        setTimeout(flush, 0)
      }
    })
  return { enqueue, lastError: () => lastError }
}

/** Embeds prompts for L1b. Concurrent requests are micro-batched: one backend call serves all that arrived together. */
export class Embedder extends Context.Service<Embedder, {
  readonly model: string
  readonly dimensions: number
  readonly embed: (text: string) => Effect.Effect<Float32Array, LayerUnavailable>
  /** The fast encoder's vector, or `undefined` when there is none (yet). Never fails: it is only a shortcut. */
  readonly fast: (text: string) => Float32Array | undefined
  /** The fast encoder, when the backend has one. */
  readonly fastStage?: FastStage | undefined
  readonly status: () => EmbedderStatus
}>()("isartor/Embedder") {
  /**
   * `timeoutMs`: how long a request waits for its vector. A backend that stops answering without failing (a stuck
   * worker) must cost L1b, not the request: past it, the lookup falls through.
   */
  static readonly make = (backend: EmbeddingBackend, options: { readonly timeoutMs?: number } = {}) => {
    const timeoutMs = options.timeoutMs ?? EMBED_TIMEOUT_MS
    const batches = microBatches(backend)
    // The same prompt is embedded once per request path: L1b's lookup and L2's classifier share its vector.
    const recent = new LRUCache<string, Float32Array>({ max: RECENT_VECTORS })
    const fast = backend.fast
    return Embedder.of({
      model: backend.name,
      dimensions: backend.dimensions,
      fastStage: backend.fastStage,
      fast: (text) => {
        if (!fast) return undefined
        try {
          return fast(cut(text, backend.maxInputChars))
        } catch {
          return undefined
        }
      },
      embed: (text) => {
        const input = cut(text, backend.maxInputChars)
        const known = recent.get(input)
        if (known) return Effect.succeed(known)
        const down = backendDown(backend)
        // Queued for a backend that cannot answer, the request would only wait to fail: it goes on now.
        if (down) {
          return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: `embedder ${down.status}: ${down.reason}` }))
        }
        return Effect.tryPromise({
          try: () => batches.enqueue(input).then((vector) => (recent.set(input, vector), vector)),
          catch: (error) =>
            new LayerUnavailable({
              layer: "l1b",
              reason: `embedder failed: ${messageOf(error)}`
            })
        }).pipe(
          Effect.timeoutOrElse({
            duration: timeoutMs,
            orElse: () =>
              Effect.fail(
                new LayerUnavailable({ layer: "l1b", reason: `embedder gave no vector within ${timeoutMs} ms` })
              )
          })
        )
      },
      status: () => {
        const down = backendDown(backend)
        if (down) return { status: down.status, model: backend.name, reason: down.reason }
        const lastError = batches.lastError()
        return lastError === undefined
          ? { status: "ok", model: backend.name }
          : { status: "unavailable", model: backend.name, reason: lastError }
      }
    })
  }

  static readonly layer = (backend: EmbeddingBackend) => Layer.succeed(Embedder, Embedder.make(backend))

  /** No model loaded (the runtime injected none): every embedding is unavailable, so its users fall through. */
  static readonly layerNone = Layer.succeed(
    Embedder,
    Embedder.of({
      model: "none",
      dimensions: 0,
      embed: () => Effect.fail(new LayerUnavailable({ layer: "l1b", reason: "no embedding model is loaded" })),
      fast: () => undefined,
      status: () => ({ status: "unavailable", model: "none", reason: "no embedding model is loaded" })
    })
  )
}
