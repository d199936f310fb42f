import { existsSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import type { EmbeddingBackend } from "../core/embedding/Embedder.ts"

/**
 * A backend that remembers every vector on disk (bench/results/embeddings-<model>.json, not committed) so quality
 * runs over tens of thousands of sentences pay for the model once. `save()` writes what is new.
 */
export const withDiskCache = async (backend: EmbeddingBackend) => {
  const file = new URL(`./results/embeddings-${backend.name.replace(/[^\w.-]+/g, "_")}.json`, import.meta.url)
  const known = new Map<string, Float32Array>(
    existsSync(file)
      ? Object.entries(JSON.parse(await readFile(file, "utf8")) as Record<string, Array<number>>).map((
        [text, vector]
      ) => [text, Float32Array.from(vector)])
      : []
  )
  let added = 0
  const cached: EmbeddingBackend = {
    ...backend,
    embed: async (texts) => {
      const missing = [...new Set(texts.filter((text) => !known.has(text)))]
      for (let i = 0; i < missing.length; i += 64) {
        const batch = missing.slice(i, i + 64)
        const vectors = await backend.embed(batch)
        batch.forEach((text, j) => known.set(text, vectors[j]!))
        added += batch.length
      }
      return texts.map((text) => known.get(text)!)
    }
  }
  return {
    backend: cached,
    /** Embeds texts ahead (in batches, with progress), so later lookups only read the cache. */
    prefetch: async (texts: ReadonlyArray<string>) => {
      const missing = [...new Set(texts.filter((text) => !known.has(text)))]
      const started = performance.now()
      for (let i = 0; i < missing.length; i += 256) {
        await cached.embed(missing.slice(i, i + 256))
        process.stderr.write(`\rembedding ${Math.min(i + 256, missing.length)}/${missing.length}`)
      }
      if (missing.length > 0) {
        process.stderr.write(
          `\n${missing.length} texts embedded in ${((performance.now() - started) / 1000).toFixed(1)} s\n`
        )
      }
      return { embedded: missing.length, ms: performance.now() - started }
    },
    save: async () => {
      if (added === 0) return
      await mkdir(new URL("./results/", import.meta.url), { recursive: true })
      await writeFile(
        file,
        JSON.stringify(Object.fromEntries([...known].map(([text, vector]) => [text, Array.from(vector)])))
      )
      added = 0
    }
  }
}
