// L1b performance: start-up time to ready (model load included), L1b hit latency over HTTP, exact-hit
// throughput alone and while other requests are being embedded, HNSW lookup time at 10k and 100k entries, and
// HNSW against a brute-force scan for small caches.
// Prints figures; asserts nothing. Usage: npm run bench:semantic-perf -- [--runtime bun] [--hits 300] [--duration 5]
import { availableParallelism, cpus } from "node:os"
import { parseArgs } from "node:util"
import { CANDIDATES } from "../core/cache/semantic/SemanticCache.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, type LoadTool, wrkAvailable } from "./load.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "bun" },
    hits: { type: "string", default: "300" },
    duration: { type: "string", default: "5" },
    "index-sizes": { type: "string", default: "10000,100000" }
  }
})
const runtime = values.runtime as RuntimeName
const hits = Number(values.hits)
const durationSecs = Number(values.duration)
const tool: LoadTool = (await wrkAvailable()) ? "wrk" : "autocannon"
const quantiles = (samples: Array<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { p50: at(0.5), p99: at(0.99) }
}
const post = async (url: string, prompt: string) => {
  const started = performance.now()
  const response = await fetch(`${url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt })
  })
  await response.arrayBuffer()
  return {
    ms: performance.now() - started,
    layer: response.headers.get("x-isartor-layer"),
    stage: response.headers.get("x-isartor-l1b-stage")
  }
}

const started: Array<StartedProcess> = []
const figures: Record<string, unknown> = { runtime, cores: availableParallelism(), tool }
try {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
  started.push(upstream)
  const launched = performance.now()
  const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000"
  })
  started.push(gateway)
  figures.startupMs = performance.now() - launched
  figures.runtimeVersion = /\(([^)]+)\)/.exec(gateway.output())?.[1] ?? runtime

  // The fast first stage is built on the worker after start-up: the hit figures are taken once it is ready.
  const fastReadyAfter = performance.now()
  for (let waited = 0; waited < 120_000; waited += 250) {
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { fast_stage?: string } } }
    if (health.layers.l1b.fast_stage !== "warming up") break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  figures.fastStageReadyMs = figures.startupMs as number + performance.now() - fastReadyAfter

  // L1b hits, two kinds: each cached question asked again (a) in other case and punctuation — a new exact key, the
  // same words — and (b) in other words, which only the full model can match.
  const questions = Array.from({ length: hits }, (_, i) => `How do I configure feature number ${i} of the product?`)
  for (const question of questions) await post(gateway.url, question)
  const measure = async (variant: (question: string) => string) => {
    const times: Array<number> = []
    const stages: Record<string, number> = {}
    let otherLayers = 0
    for (const question of questions) {
      const result = await post(gateway.url, variant(question))
      if (result.layer !== "l1b") {
        otherLayers++
        continue
      }
      times.push(result.ms)
      stages[result.stage ?? "?"] = (stages[result.stage ?? "?"] ?? 0) + 1
    }
    return { ...quantiles(times), served: times.length, notL1b: otherLayers, stages }
  }
  figures.l1bHit = await measure((question) => question.toLowerCase().replace("?", " ?"))
  figures.l1bParaphraseHit = await measure((question) => question.replace("How do I configure", "How can I set up"))

  // Exact hits, alone and while four clients keep sending new prompts (each one embedded).
  const hitBody = JSON.stringify({ prompt: questions[0] })
  figures.exactAlone = await load(tool, {
    url: `${gateway.url}/api/chat`,
    body: hitBody,
    connections: 16,
    durationSecs
  })
  let stop = false
  let embedded = 0
  const background = Promise.all(Array.from({ length: 4 }, async (_, worker) => {
    for (let i = 0; !stop; i++) {
      await post(gateway.url, `A brand new question ${worker}-${i} about shipping times to region ${i}`)
      embedded++
    }
  }))
  figures.exactWhileEmbedding = await load(tool, {
    url: `${gateway.url}/api/chat`,
    body: hitBody,
    connections: 16,
    durationSecs
  })
  stop = true
  await background
  figures.embeddedMeanwhile = embedded
} finally {
  for (const process of started) process.stop()
}

// HNSW lookup, in this process, over random unit vectors of the model's 512 dimensions.
const hnswlib = await loadHnswlib()
const unit = () => {
  const vector = Float32Array.from({ length: 512 }, () => Math.random() - 0.5)
  const norm = Math.hypot(...vector)
  return vector.map((value) => value / norm)
}
const lookups: Array<Record<string, unknown>> = []
for (const size of values["index-sizes"].split(",").map(Number)) {
  const index = VectorIndex.make(hnswlib, 512, size)
  for (let i = 0; i < size; i++) index.add(i, unit())
  const times: Array<number> = []
  for (let i = 0; i < 1000; i++) {
    const query = unit()
    const t = performance.now()
    index.search(query, CANDIDATES, () => true)
    times.push(performance.now() - t)
  }
  lookups.push({ entries: size, ...quantiles(times) })
}
figures.hnswLookup = lookups

// Is a brute-force scan (every dot product in plain JS) faster than HNSW for a small cache? Measured, not assumed.
const small: Array<{ entries: number; hnswP50: number; bruteP50: number }> = []
for (const size of [100, 300, 1000, 3000]) {
  const vectors = Array.from({ length: size }, unit)
  const index = VectorIndex.make(hnswlib, 512, size)
  vectors.forEach((vector, i) => index.add(i, vector))
  const scan = (query: Float32Array) => {
    let best = -2
    let bestLabel = -1
    for (let i = 0; i < size; i++) {
      const vector = vectors[i]!
      let sum = 0
      for (let j = 0; j < 512; j++) sum += vector[j]! * query[j]!
      if (sum > best) (best = sum), (bestLabel = i)
    }
    return bestLabel
  }
  const timed = (run: (query: Float32Array) => unknown) => {
    const times: Array<number> = []
    for (let i = 0; i < 500; i++) {
      const query = unit()
      const t = performance.now()
      run(query)
      times.push(performance.now() - t)
    }
    return quantiles(times).p50
  }
  small.push({
    entries: size,
    hnswP50: timed((query) => index.search(query, CANDIDATES, () => true)),
    bruteP50: timed(scan)
  })
}
figures.smallIndex = small

const f = (n: number) => n.toFixed(2)
type HitFigures = { p50: number; p99: number; served: number; notL1b: number; stages: Record<string, number> }
const l1bHit = figures.l1bHit as HitFigures
const paraphraseHit = figures.l1bParaphraseHit as HitFigures
const alone = figures.exactAlone as { requestsPerSecond: number; p50Ms: number; p99Ms: number }
const during = figures.exactWhileEmbedding as { requestsPerSecond: number; p50Ms: number; p99Ms: number }
console.log(
  `L1b performance — gateway on ${figures.runtimeVersion as string}, machine ${availableParallelism()} cores (${
    cpus()[0]?.model ?? "cpu"
  }), load tool ${tool}`
)
console.table([
  { figure: "start-up to ready (model load included)", value: `${f(figures.startupMs as number)} ms` },
  { figure: "fast first stage ready (after launch)", value: `${f(figures.fastStageReadyMs as number)} ms` },
  {
    figure: `L1b hit over HTTP, c=1, case/punctuation variants (${l1bHit.served} hits ${
      JSON.stringify(l1bHit.stages)
    }, ${l1bHit.notL1b} not from L1b)`,
    value: `p50 ${f(l1bHit.p50)} ms, p99 ${f(l1bHit.p99)} ms`
  },
  {
    figure: `L1b hit over HTTP, c=1, reworded (${paraphraseHit.served} hits ${
      JSON.stringify(paraphraseHit.stages)
    }, ${paraphraseHit.notL1b} not from L1b)`,
    value: `p50 ${f(paraphraseHit.p50)} ms, p99 ${f(paraphraseHit.p99)} ms`
  },
  {
    figure: "exact hits alone (16 connections)",
    value: `${Math.round(alone.requestsPerSecond)} req/s, p50 ${f(alone.p50Ms)} ms, p99 ${f(alone.p99Ms)} ms`
  },
  {
    figure: `exact hits while 4 clients send new prompts (${figures.embeddedMeanwhile} embedded)`,
    value: `${Math.round(during.requestsPerSecond)} req/s, p50 ${f(during.p50Ms)} ms, p99 ${f(during.p99Ms)} ms`
  },
  ...lookups.map((row) => ({
    figure:
      `HNSW lookup, ${row.entries} entries (k=${CANDIDATES} as L1b asks, ef 64; in this process, node ${process.version})`,
    value: `p50 ${f(row.p50 as number)} ms, p99 ${f(row.p99 as number)} ms`
  })),
  ...small.map((row) => ({
    figure: `small cache, ${row.entries} entries: HNSW vs brute-force scan`,
    value: `p50 ${row.hnswP50.toFixed(3)} ms vs ${row.bruteP50.toFixed(3)} ms`
  }))
])
await writeResults(`semantic-${runtime}`, figures)
