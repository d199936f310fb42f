// Memory per cached entry: RSS growth per 10k entries in the exact cache (L1a) and the semantic cache (L1b:
// vectors in the HNSW index + entry), at 10k and 100k entries, for L1b as the gateway wires it by default (the
// learned decision: one 128-d fast-encoder vector per entry) and with l1b_decision = cosine (a 512-d model vector
// and a 128-d fast one, each in its own graph). Entries are stored directly through the cache services (no HTTP,
// no model: vectors are random unit vectors), so the figure is the caches' own footprint. Then the gateway's own
// resident memory, idle and with 200 streams open, for `npm start` and the single binary (bench/memoryProcesses.ts).
// Usage: npm run bench:memory -- [--sizes 10000,100000] [--only entries|processes] [--rounds 3] [--streams 200]
import { Context, Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { availableParallelism, loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { ExactCache } from "../core/cache/exact/ExactCache.ts"
import { makeMemoryExactStore } from "../core/cache/exact/MemoryExactStore.ts"
import { shippedDecision } from "../core/cache/semantic/decision/weights.ts"
import { SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { semanticCacheLayer } from "../core/cache/semantic/semanticLayer.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { Embedder } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { measureProcesses } from "./memoryProcesses.ts"
import { oneQuestion } from "./requests.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    decision: { type: "string" },
    only: { type: "string" },
    rounds: { type: "string", default: "3" },
    streams: { type: "string", default: "200" }
  }
})
const sizes = values.sizes.split(",").map(Number)
const DIMENSIONS = 512
const FAST_DIMENSIONS = shippedDecision.dimensions

// Each L1b decision is measured in a process of its own: WASM memory an index frees is kept and reused, so a second
// index built in the same process would seem to cost nothing.
if (values.decision === undefined) {
  const figures: Record<string, unknown> = {}
  if (values.only !== "processes") {
    const measured = (decision: string) =>
      new Promise<Array<Record<string, unknown>>>((resolve, reject) =>
        execFile(
          process.execPath,
          [...process.execArgv, fileURLToPath(import.meta.url), "--sizes", values.sizes, "--decision", decision],
          { maxBuffer: 2 ** 24 },
          (error, stdout) =>
            error
              ? reject(error)
              : resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Array<Record<string, unknown>>)
        )
      )
    const learned = await measured("learned")
    const cosine = await measured("cosine")
    const rows = learned.map(({ "L1b bytes/entry": learnedBytes, ...row }, i) => ({
      ...row,
      "L1b bytes/entry (learned)": learnedBytes,
      "L1b bytes/entry (cosine)": cosine[i]!["L1b bytes/entry"]
    }))
    console.log(
      `memory per cached entry — ~600-byte answers; L1b learned (the default): one ${FAST_DIMENSIONS}-d vector per entry; cosine: ${DIMENSIONS}-d + ${FAST_DIMENSIONS}-d (an HNSW graph each, with VectorIndex.ts's settings); node ${process.version}, ${availableParallelism()} cores`
    )
    console.table(rows)
    figures.entries = rows
  }
  if (values.only !== "entries") {
    const before = loadavg()
    const rows = await measureProcesses({ rounds: Number(values.rounds), streams: Number(values.streams) })
    console.log(
      `the gateway's resident memory (process tree), ${values.rounds} rounds of a fresh gateway each, alternated; 164 KB Claude Code streams held open by the upstream; node ${process.version}, ${availableParallelism()} cores, load average ${
        before.map((n) => n.toFixed(2)).join(" ")
      } → ${loadavg().map((n) => n.toFixed(2)).join(" ")}`
    )
    console.table(rows)
    figures.processes = rows
  }
  await writeResults("memory", figures)
  process.exit(0)
}
const decision = values.decision as "learned" | "cosine"
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error("run with node --expose-gc (npm run bench:memory does)")

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
const randomUnit = (dimensions: number) => {
  const vector = new Float32Array(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) norm += (vector[i] = Math.random() - 0.5) ** 2
  norm = Math.sqrt(norm)
  for (let i = 0; i < dimensions; i++) vector[i]! /= norm
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

  // As the gateway runs USE-lite: its shipped fast encoder (the learned decision's encoder), and the model behind it.
  const backend = {
    name: "random-unit",
    dimensions: DIMENSIONS,
    maxInputChars: 2048,
    embed: async (texts: ReadonlyArray<string>) => texts.map(() => randomUnit(DIMENSIONS)),
    fast: () => randomUnit(FAST_DIMENSIONS),
    fastStage: { encoder: shippedDecision.encoder, dimensions: FAST_DIMENSIONS }
  }
  let semanticBytes = 0
  {
    const decided = { ...config, l1b_decision: decision }
    const layer = semanticCacheLayer(decided, { embedder: backend, hnswlib }).pipe(
      Layer.provide(Layer.mergeAll(Embedder.layer(backend), CacheKey.layer, AppConfig.layer(decided)))
    )
    const before = rss()
    const context = await Effect.runPromise(Layer.build(layer).pipe(Effect.scoped))
    const semantic = Context.get(context, SemanticCache)
    for (let i = 0; i < size; i++) {
      const request = oneQuestion(`How do I do task number ${i} in the product?`)
      await Effect.runPromise(semantic.store(request, completion(i)))
      if (i % 5000 === 0) process.stderr.write(`\rsemantic (${decision}) ${i}/${size}`)
    }
    process.stderr.write("\n")
    semanticBytes = rss() - before
  }
  rows.push({
    entries: size,
    "L1a MB per 10k": ((exactBytes / size) * 10_000 / 2 ** 20).toFixed(1),
    "L1a bytes/entry": Math.round(exactBytes / size),
    "L1b bytes/entry": Math.round(semanticBytes / size)
  })
}
console.log(JSON.stringify(rows))
