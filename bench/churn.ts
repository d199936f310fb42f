// A long-running L1b: many more distinct inserts than `cache_max_capacity`, through the cache service itself (no HTTP,
// vectors a deterministic function of the text, so no model is needed), counting what a user would lose: inserts
// the index refused, and whether the latest question is still found. Prints the graph's slots and the entries' bytes.
// Usage: npm run bench:churn -- [--capacity 100] [--inserts 3000]
import { Context, Effect, Exit, Layer } from "effect"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { Embedder } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { oneQuestion } from "./requests.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: { capacity: { type: "string", default: "100" }, inserts: { type: "string", default: "3000" } }
})
const capacity = Number(values.capacity)
const inserts = Number(values.inserts)
const DIMENSIONS = 64

/** A unit vector drawn from a generator seeded by the text: the same text always gives the same vector. */
const vectorOf = (text: string) => {
  let seed = [...text].reduce((hash, char) => (Math.imul(hash, 31) + char.charCodeAt(0)) | 0, 7) >>> 0 || 1
  const vector = new Float32Array(DIMENSIONS)
  let norm = 0
  for (let i = 0; i < DIMENSIONS; i++) {
    seed = (seed * 16807) % 2147483647
    norm += (vector[i] = seed / 2147483647 - 0.5) ** 2
  }
  return vector.map((value) => value / Math.sqrt(norm))
}

const request = (n: number) => oneQuestion(`Question number ${n}: what happened in year ${1000 + n}?`)

const { config } = await Effect.runPromise(
  loadConfig({ env: { ISARTOR__CACHE_MAX_CAPACITY: String(capacity) }, readTextFile: async () => undefined })
)
const hnswlib = await loadHnswlib()
const backend = {
  name: "text-seeded",
  dimensions: DIMENSIONS,
  maxInputChars: 2048,
  embed: async (texts: ReadonlyArray<string>) => texts.map(vectorOf)
}
const context = await Effect.runPromise(
  Layer.build(SemanticCache.layer.pipe(Layer.provide(Layer.mergeAll(
    Embedder.layer(backend),
    VectorIndex.layer(hnswlib, DIMENSIONS, capacity),
    CacheKey.layer,
    AppConfig.layer(config)
  )))).pipe(Effect.scoped)
)
const cache = Context.get(context, SemanticCache)

let refused = 0
let firstRefusal: number | undefined
let latestFound = 0
for (let n = 0; n < inserts; n++) {
  const stored = await Effect.runPromiseExit(cache.store(request(n), JSON.stringify({ answer: n })))
  if (Exit.isFailure(stored)) {
    refused++
    firstRefusal ??= n
  }
  // Right after its insert, the question must be found again (similarity 1).
  if (Exit.isSuccess(await Effect.runPromiseExit(cache.lookup(request(n), 0.99)))) latestFound++
}
const status = await Effect.runPromise(cache.status) as {
  entries: number
  index_slots: number
  bytes: number
  insert_failures: number
}
const figures = {
  capacity,
  inserts,
  refused,
  first_refused_insert: firstRefusal ?? null,
  latest_question_found: latestFound,
  entries: status.entries,
  index_slots: status.index_slots,
  bytes: status.bytes,
  insert_failures: status.insert_failures
}
console.table([figures])
await writeResults("churn", figures)
