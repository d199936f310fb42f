// Memory per cached entry: RSS growth per 10k entries in the exact cache (L1a) and the semantic cache (L1b:
// vector in the HNSW index + entry), at 10k and 100k entries. Entries are stored directly through the cache
// services (no HTTP, no model: vectors are random unit vectors of the model's 512 dimensions), so the figure is
// the caches' own footprint. Usage: npm run bench:memory -- [--sizes 10000,100000]
import { Context, Effect, Layer } from "effect"
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { ExactCache } from "../core/cache/exact/ExactCache.ts"
import { makeMemoryExactStore } from "../core/cache/exact/MemoryExactStore.ts"
import { FastVectorIndex } from "../core/cache/semantic/FastVectorIndex.ts"
import { SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { Embedder } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { oneQuestion } from "./requests.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({ options: { sizes: { type: "string", default: "10000,100000" } } })
const sizes = values.sizes.split(",").map(Number)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with node --expose-gc (npm run bench:memory does)")

const DIMENSIONS = 512
const completion = (i: number) =>
  JSON.stringify({
    id: `chatcmpl-${i}`,
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [{
      index: 0,
      message: { role: "assistant", content: `A typical short answer number ${i}, `.repeat(8) },
      finish_reason: "stop"
    }],
    usage: { prompt_tokens: 20, completion_tokens: 80, total_tokens: 100 }
  })
const rss = () => {
  gc()
  gc()
  return process.memoryUsage().rss
}
const randomUnit = () => {
  const vector = new Float32Array(DIMENSIONS)
  let norm = 0
  for (let i = 0; i < DIMENSIONS; i++) norm += (vector[i] = Math.random() - 0.5) ** 2
  norm = Math.sqrt(norm)
  for (let i = 0; i < DIMENSIONS; i++) vector[i]! /= norm
  return vector
}

const hnswlib = await loadHnswlib()
const rows: Array<Record<string, unknown>> = []
for (const size of sizes) {
  const { config } = await Effect.runPromise(
    loadConfig({
      env: {
        ISARTOR__CACHE_MAX_CAPACITY: String(size),
        ISARTOR__CACHE_MAX_BYTES: String(2 ** 40),
        ISARTOR__CACHE_TTL_SECS: "86400"
      },
      readTextFile: async () => undefined
    })
  )

  const beforeExact = rss()
  const exact = ExactCache.make(
    makeMemoryExactStore({ maxEntries: size, maxBytes: Number.MAX_SAFE_INTEGER, ttlMs: 86_400_000 })
  )
  for (let i = 0; i < size; i++) {
    Effect.runSync(
      exact.store(
        { key: `${i.toString(16).padStart(16, "0")}`, check: `${(i * 7).toString(16).padStart(16, "0")}` },
        completion(i)
      )
    )
  }
  const exactBytes = rss() - beforeExact

  // As the gateway runs USE-lite: a full-model vector and a fast-stage vector per entry, each in its own HNSW index.
  const backend = {
    name: "random-unit",
    dimensions: DIMENSIONS,
    maxInputChars: 2048,
    embed: async (texts: ReadonlyArray<string>) => texts.map(randomUnit),
    fast: () => randomUnit()
  }
  const layer = SemanticCache.layer.pipe(
    Layer.provide(Layer.mergeAll(
      Embedder.layer(backend),
      VectorIndex.layer(hnswlib, DIMENSIONS, size),
      FastVectorIndex.layer(hnswlib, DIMENSIONS, size),
      CacheKey.layer,
      AppConfig.layer(config)
    ))
  )
  const beforeSemantic = rss()
  const context = await Effect.runPromise(Layer.build(layer).pipe(Effect.scoped))
  const semantic = Context.get(context, SemanticCache)
  for (let i = 0; i < size; i++) {
    const request = oneQuestion(`How do I do task number ${i} in the product?`)
    await Effect.runPromise(semantic.store(request, completion(i)))
    if (i % 5000 === 0) process.stderr.write(`\rsemantic ${i}/${size}`)
  }
  process.stderr.write("\n")
  const semanticBytes = rss() - beforeSemantic
  rows.push({
    entries: size,
    "L1a MB per 10k": ((exactBytes / size) * 10_000 / 2 ** 20).toFixed(1),
    "L1a bytes/entry": Math.round(exactBytes / size),
    "L1b MB per 10k": ((semanticBytes / size) * 10_000 / 2 ** 20).toFixed(1),
    "L1b bytes/entry": Math.round(semanticBytes / size)
  })
}
console.log(
  `memory per cached entry — ~600-byte answers, two ${DIMENSIONS}-d vectors per L1b entry (model + fast stage, HNSW M 16 each); node ${process.version}, ${availableParallelism()} cores`
)
console.table(rows)
await writeResults("memory", rows)
