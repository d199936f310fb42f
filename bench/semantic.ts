// L1b quality through the real SemanticCache (embedder, HNSW index, verifier): caches every `origin` of a pairs
// file (its answer is the origin's own id), asks every `similar`, and counts correct hits (the returned origin's
// text equals the query's own origin text), false hits (any other hit, and any hit for a label-0 pair) and misses —
// at the given threshold and over a sweep. Pairs: a JSON array or JSONL of {"origin", "similar", "label"?}
// (label 1 = paraphrase, the default; 0 = not the same question). Vectors are cached on disk between runs.
// The last output line is one JSON object with the figures at --threshold.
// Usage: npm run bench:semantic -- --pairs FILE [--limit N] [--seed 1] [--threshold 0.85] [--fast-threshold 0.93]
import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import { readFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { FastVectorIndex } from "../core/cache/semantic/FastVectorIndex.ts"
import { SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { type ChatRequest, fromOpenAIBody } from "../core/domain/ChatRequest.ts"
import { Embedder } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { tableCacheDir } from "../runtimes/shared.ts"
import { withDiskCache } from "./embeddingCache.ts"

const { values } = parseArgs({
  options: {
    pairs: { type: "string" },
    limit: { type: "string" },
    seed: { type: "string", default: "1" },
    threshold: { type: "string" },
    "fast-threshold": { type: "string" }
  }
})
if (!values.pairs) {
  console.error(
    "usage: npm run bench:semantic -- --pairs FILE [--limit N] [--seed 1] [--threshold 0.85] [--fast-threshold 0.93]"
  )
  process.exit(2)
}

interface Pair {
  readonly origin: string
  readonly similar: string
  readonly label?: number
}
const text = (await readFile(values.pairs, "utf8")).trim()
const all =
  (text.startsWith("[") ? JSON.parse(text) : text.split("\n").filter(Boolean).map((line) => JSON.parse(line))) as Array<
    Pair
  >
// A seeded sample, so a run on the 40k-pair file fits in minutes and can be repeated exactly.
let seed = Number(values.seed)
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
const limit = Math.min(Number(values.limit ?? all.length), all.length)
const pairs = limit === all.length
  ? all
  : all.map((pair) => [random(), pair] as const).sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, pair]) => pair)

const origins = [...new Set(pairs.map((pair) => pair.origin))]
const cache = await withDiskCache(await loadUseLite({ fast: true, tableCacheDir: tableCacheDir(process.env) }))
const embedding = await cache.prefetch([...origins, ...pairs.map((pair) => pair.similar)])
await cache.save()

const loaded = await Effect.runPromise(loadConfig({
  env: {
    ISARTOR__CACHE_MAX_CAPACITY: String(Math.max(origins.length, 1000)),
    ISARTOR__CACHE_TTL_SECS: "100000000",
    ...(values.threshold ? { ISARTOR__SIMILARITY_THRESHOLD: values.threshold } : {}),
    ...(values["fast-threshold"] ? { ISARTOR__SEMANTIC_FAST_THRESHOLD: values["fast-threshold"] } : {})
  },
  readTextFile: async () => undefined
}))
const config = loaded.config
const threshold = config.similarity_threshold
const hnswlib = await loadHnswlib()
const runtime = ManagedRuntime.make(
  SemanticCache.layer.pipe(
    Layer.provide(Layer.mergeAll(
      Embedder.layer(cache.backend),
      VectorIndex.layer(hnswlib, cache.backend.dimensions, config.cache_max_capacity),
      FastVectorIndex.layer(hnswlib, cache.backend.dimensions, config.cache_max_capacity)
    )),
    Layer.provide(CacheKey.layer),
    Layer.provide(AppConfig.layer(config))
  )
)
const semantic = await runtime.runPromise(SemanticCache)
const request = (question: string): ChatRequest => {
  const decoded = fromOpenAIBody({ model: "bench", messages: [{ role: "user", content: question }] }, {
    defaultModel: "bench",
    tenant: "bench",
    cacheRead: true,
    cacheWrite: true
  })
  if (Exit.isFailure(decoded)) throw new Error("bad request")
  return decoded.value
}

for (const [id, origin] of origins.entries()) await runtime.runPromise(semantic.store(request(origin), String(id)))

// The figures at the threshold come from lookups at exactly that threshold. The sweep reuses one lookup per query
// at its lowest value: at a higher threshold the answer is the same hit if its similarity reaches it, else a miss
// (candidates are tried in order of similarity with the same verifier; the fast stage's own cut, 0.93 by default,
// makes rows above it approximate).
const sweep = [...new Set([0.7, 0.75, 0.8, 0.85, 0.9, 0.95, threshold])].sort((a, b) => a - b)
type Result = { origin: string; similarity: number; stage: string } | undefined
const lookupMs: Array<number> = []
const lookAll = async (cut: number, timed: boolean) => {
  const out: Array<Result> = []
  for (const pair of pairs) {
    const started = performance.now()
    const exit = await runtime.runPromiseExit(semantic.lookup(request(pair.similar), cut))
    if (timed) lookupMs.push(performance.now() - started)
    out.push(
      Exit.isSuccess(exit)
        ? {
          origin: origins[Number(exit.value.completion)]!,
          similarity: exit.value.similarity,
          stage: exit.value.stage
        }
        : undefined
    )
  }
  return out
}
const atThreshold = await lookAll(threshold, true)
const atLowest = await lookAll(sweep[0]!, false)
await runtime.dispose()

const paraphrases = pairs.filter((pair) => pair.label !== 0).length
const figuresAt = (cut: number, results: Array<Result> = atLowest) => {
  let correct = 0
  let falseHits = 0
  pairs.forEach((pair, i) => {
    const hit = results[i]
    if (!hit || hit.similarity < cut) return
    if (pair.label !== 0 && hit.origin === pair.origin) correct++
    else falseHits++
  })
  return {
    threshold: cut,
    correct,
    false_hits: falseHits,
    misses: pairs.length - correct - falseHits,
    precision: Number((correct / Math.max(1, correct + falseHits)).toFixed(4)),
    hit_rate: Number(((correct + falseHits) / pairs.length).toFixed(4)),
    label1_hit_rate: Number((correct / Math.max(1, paraphrases)).toFixed(4))
  }
}
lookupMs.sort((a, b) => a - b)
const at = (q: number) => lookupMs[Math.min(lookupMs.length - 1, Math.floor(q * lookupMs.length))]!

console.log(
  `L1b quality — ${values.pairs}: ${pairs.length} of ${all.length} pairs${
    limit < all.length ? ` (seeded sample, seed ${values.seed})` : ""
  }, ` +
    `${origins.length} origins cached, ${paraphrases} paraphrase pairs; model ${cache.backend.name} (${cache.backend.dimensions}-d) with its fast first stage, HNSW, verifier on; ` +
    `threshold ${threshold}; ${availableParallelism()} cores, node ${process.version}`
)
console.log(
  `embedding: ${embedding.embedded} new texts in ${(embedding.ms / 1000).toFixed(1)} s` +
    `${
      embedding.embedded > 0
        ? ` (${(embedding.ms / embedding.embedded).toFixed(2)} ms/text, batches of 64)`
        : " (all cached from an earlier run)"
    }; ` +
    `lookup (vector cached, HNSW + verifier, through the service): p50 ${at(0.5).toFixed(3)} ms, p99 ${
      at(0.99).toFixed(3)
    } ms`
)
console.table(sweep.map((cut) => figuresAt(cut)))
const hitsAtThreshold = atThreshold.filter((hit) => hit !== undefined)
console.log(
  `stages at ${threshold}: ${
    hitsAtThreshold.filter((hit) => hit!.stage === "fast").length
  } of ${hitsAtThreshold.length} hits from the fast first stage ` +
    `(static distillation, cut ${config.semantic_fast_threshold}), the rest from the full model`
)
console.log(JSON.stringify(figuresAt(threshold, atThreshold)))
// SHOW_FALSE=1 lists every false hit at the threshold on stderr (question, its own origin, the origin served).
if (process.env.SHOW_FALSE) {
  pairs.forEach((pair, i) => {
    const hit = atThreshold[i]
    if (!hit || (pair.label !== 0 && hit.origin === pair.origin)) return
    console.error(`Q: ${pair.similar}\n   own: ${pair.origin}\n   got: ${hit.origin} (${hit.similarity.toFixed(3)})`)
  })
}
