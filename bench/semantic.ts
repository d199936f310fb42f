// L1b quality through the real SemanticCache (encoder, HNSW index, decision) as the gateway wires it: caches every
// `origin` of a pairs file (its answer is the origin's own id), asks every `similar`, and counts correct hits (the
// returned origin's text equals the query's own origin text), false hits (any other hit, and any hit for a label-0
// pair) and misses — at the configured threshold and over a sweep of the decision threshold (the learned score, or
// the cosine with --decision cosine). Pairs: a JSON array or JSONL of {"origin", "similar", "label"?} (label 1 =
// paraphrase, the default; 0 = not the same question), or --split heldout|tune: that split of
// ../shared/data/qqp-dev.jsonl (bench/l1bData.ts; the training never saw `heldout`). Without either, both the
// GPTCache pairs and the held-out Quora split. Writes the curves as JSON and SVG under bench/results/; the last
// output line is one JSON object with the figures at the threshold, per file.
// Usage: npm run bench:semantic -- [--pairs FILE | --split heldout] [--decision learned|cosine] [--limit N]
//                                  [--seed 1] [--threshold T]
// With --stream, the false-hit budget on a stream through a real gateway instead: bench/semanticStream.ts; with
// --oracle, what any budget could serve on it (bench/semanticOracle.ts); with --replay-budget, the budget on it
// offline (bench/semanticBudgetReplay.ts).
import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import { readFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { scoreThresholdOf } from "../core/cache/semantic/decision/scoreThreshold.ts"
import { COSINE_THRESHOLD, SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { decidesByLearning, semanticCacheLayer } from "../core/cache/semantic/semanticLayer.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { type ChatRequest, fromOpenAIBody } from "../core/domain/ChatRequest.ts"
import { Embedder, type EmbeddingBackend } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { loadUseLiteFastOnly } from "../runtimes/embedding/useLiteStatic.ts"
import { withDiskCache } from "./embeddingCache.ts"
import { type LabelledPair, pairsOf, readPairs, type Split } from "./l1bData.ts"
import { writeResults } from "./results.ts"
import { curveSvg } from "./svg.ts"

const { values } = parseArgs({
  options: {
    pairs: { type: "string" },
    split: { type: "string" },
    decision: { type: "string", default: "learned" },
    limit: { type: "string" },
    seed: { type: "string", default: "1" },
    threshold: { type: "string" },
    stream: { type: "boolean", default: false },
    oracle: { type: "boolean", default: false },
    "replay-budget": { type: "boolean", default: false },
    runs: { type: "string" },
    budgets: { type: "string" }
  }
})
if (values["replay-budget"]) {
  const { runBudgetReplay } = await import("./semanticBudgetReplay.ts")
  await runBudgetReplay(values)
  process.exit(0)
}
if (values.oracle) {
  const { runOracle } = await import("./semanticOracle.ts")
  await runOracle(values)
  process.exit(0)
}
if (values.stream) {
  const { runStream } = await import("./semanticStream.ts")
  await runStream(values)
  process.exit(0)
}
const learnedAskedFor = values.decision !== "cosine"
const GPTCACHE = fileURLToPath(new URL("../../shared/data/gptcache-mock-pairs.json", import.meta.url))

interface Pair {
  readonly origin: string
  readonly similar: string
  readonly label?: number
}
const readFilePairs = async (file: string) => {
  const text = (await readFile(file, "utf8")).trim()
  return (text.startsWith("[")
    ? JSON.parse(text)
    : text.split("\n").filter(Boolean).map((line) => JSON.parse(line))) as Array<
      Pair
    >
}
const sources: Array<{ readonly name: string; readonly pairs: () => Promise<ReadonlyArray<Pair>> }> = values.pairs
  ? [{ name: values.pairs, pairs: () => readFilePairs(values.pairs!) }]
  : values.split
  ? [{
    name: `qqp-dev.jsonl, ${values.split} split`,
    pairs: async () => pairsOf((await readPairs()).pairs, values.split as Split) as ReadonlyArray<LabelledPair>
  }]
  : [
    { name: "gptcache-mock-pairs.json", pairs: () => readFilePairs(GPTCACHE) },
    {
      name: "qqp-dev.jsonl, heldout split",
      pairs: async () => pairsOf((await readPairs()).pairs, "heldout") as ReadonlyArray<LabelledPair>
    }
  ]

// The learned decision needs only the fast stage; the cosine decision the model too (its vectors cached on disk).
const disk = learnedAskedFor ? undefined : await withDiskCache(await loadUseLite({ fast: true }))
const backend: EmbeddingBackend = disk ? disk.backend : await loadUseLiteFastOnly()
const hnswlib = await loadHnswlib()
const loaded = await Effect.runPromise(loadConfig({
  env: {
    ISARTOR__CACHE_TTL_SECS: "100000000",
    // The decision's own curve: the budget (which serves nothing it has not seen checked) is --stream's.
    ISARTOR__L1B_ERROR_BUDGET: "1",
    ISARTOR__L1B_DECISION: learnedAskedFor ? "learned" : "cosine",
    ...(values.threshold
      ? { [learnedAskedFor ? "ISARTOR__L1B_SCORE_THRESHOLD" : "ISARTOR__SIMILARITY_THRESHOLD"]: values.threshold }
      : {})
  },
  readTextFile: async () => undefined
}))
const learned = decidesByLearning(loaded.config, backend)
const threshold = learned
  ? scoreThresholdOf(loaded.config)
  : loaded.config.similarity_threshold ?? COSINE_THRESHOLD

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

const measure = async (name: string, all: ReadonlyArray<Pair>) => {
  // A seeded sample, so a run on a large file fits in minutes and can be repeated exactly.
  let seed = Number(values.seed)
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  const limit = Math.min(Number(values.limit ?? all.length), all.length)
  const pairs = limit === all.length
    ? all
    : all.map((pair) => [random(), pair] as const).sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, pair]) => pair)
  const origins = [...new Set(pairs.map((pair) => pair.origin))]
  const embedding = disk
    ? await disk.prefetch([...origins, ...pairs.map((pair) => pair.similar)])
    : { embedded: 0, ms: 0 }
  await disk?.save()
  // The sweep's lowest value for every lookup: a hit at a higher threshold is the same hit when its score (or
  // cosine) reaches it — the learned decision serves the best-scoring candidate, so its sweep is exact; the cosine
  // decision's rows above its fast stage's own cut are approximate.
  const sweep = learned
    ? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]
    : [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
  const lowest = Math.min(...sweep, threshold)
  const config = {
    ...loaded.config,
    cache_max_capacity: Math.max(origins.length, 1000),
    ...(learned ? { l1b_score_threshold: lowest } : { similarity_threshold: lowest })
  }
  const runtime = ManagedRuntime.make(
    semanticCacheLayer(config, { embedder: backend, hnswlib }).pipe(
      Layer.provide(Embedder.layer(backend)),
      Layer.provide(CacheKey.layer),
      Layer.provide(AppConfig.layer(config))
    )
  )
  const semantic = await runtime.runPromise(SemanticCache)
  for (const [id, origin] of origins.entries()) await runtime.runPromise(semantic.store(request(origin), String(id)))
  type Result = { origin: string; value: number; stage: string } | undefined
  const lookupMs: Array<number> = []
  const results: Array<Result> = []
  for (const pair of pairs) {
    const started = performance.now()
    const exit = await runtime.runPromiseExit(semantic.lookup(request(pair.similar), learned ? undefined : lowest))
    lookupMs.push(performance.now() - started)
    results.push(
      Exit.isSuccess(exit)
        ? {
          origin: origins[Number(exit.value.completion)]!,
          value: learned ? exit.value.score ?? 0 : exit.value.similarity,
          stage: exit.value.stage
        }
        : undefined
    )
  }
  await runtime.dispose()

  const paraphrases = pairs.filter((pair) => pair.label !== 0).length
  const figuresAt = (cut: number) => {
    let correct = 0
    let falseHits = 0
    pairs.forEach((pair, i) => {
      const hit = results[i]
      if (!hit || hit.value < cut) return
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
    `\nL1b quality — ${name}: ${pairs.length} of ${all.length} pairs${
      limit < all.length ? ` (seeded sample, seed ${values.seed})` : ""
    }, ${origins.length} origins cached, ${paraphrases} paraphrase pairs; ${
      learned
        ? `learned decision over the fast encoder (${backend.fastStage?.encoder}), score threshold ${threshold}`
        : `cosine decision, model ${backend.name} with its fast first stage and the verifier, threshold ${threshold}`
    }; ${availableParallelism()} cores, node ${process.version}`
  )
  if (disk) {
    console.log(
      `embedding: ${embedding.embedded} new texts in ${
        (embedding.ms / 1000).toFixed(1)
      } s (cached on disk between runs)`
    )
  }
  console.log(
    `lookup through the service (${learned ? "fast encoder, HNSW, scorer" : "vector cached, HNSW, verifier"}): p50 ${
      at(0.5).toFixed(3)
    } ms, p99 ${at(0.99).toFixed(3)} ms`
  )
  // The learned scores' range depends on the model: the sweep spans the scores of what was served.
  const served = results.flatMap((hit) => (hit ? [hit.value] : []))
  const spread = learned && served.length > 1
    ? Array.from({ length: 15 }, (_, i) => {
      const lo = Math.min(...served)
      return Number((lo + ((Math.max(...served) - lo) * i) / 14).toFixed(4))
    })
    : sweep
  const curve = [...new Set([...spread, threshold])].sort((a, b) => a - b).map(figuresAt)
  console.table(curve)
  return {
    name,
    decision: learned ? "learned" : "cosine",
    pairs: pairs.length,
    lookup_p50_ms: at(0.5),
    lookup_p99_ms: at(0.99),
    at_threshold: figuresAt(threshold),
    curve
  }
}

const runs = []
for (const source of sources) runs.push(await measure(source.name, await source.pairs()))
await writeResults("semantic", { runtime: `node ${process.version}`, threshold, runs })
await writeResults(
  "semantic",
  undefined,
  "svg",
  curveSvg(
    `L1b ${learned ? "learned decision" : "cosine decision"}: precision / hit rate over the threshold`,
    runs.map((run) => ({ name: `${run.name} (${run.pairs} pairs)`, points: run.curve }))
  )
)
console.log(JSON.stringify(Object.fromEntries(runs.map((run) => [run.name, run.at_threshold]))))
