// L1b performance: start-up time to ready (model load included), L1b hit latency over HTTP, exact-hit
// throughput alone and while other requests are being embedded, HNSW lookup time at 10k and 100k entries, and
// HNSW against a brute-force scan for small caches. `--parts scaling`: L1b's lookup as one scope fills — 100, 10k
// and 100k entries (`--sizes`) — in process (SemanticCache with the shipped fast encoder, on Node and on Bun) and
// over HTTP at concurrency 1 (a real gateway per runtime in `--runtimes`), each with a 100-entry scope beside it.
// Prints figures; asserts nothing. Usage: npm run bench:semantic-perf -- [--runtime bun] [--hits 300] [--duration 5]
//                                          [--parts all|scaling|http] [--sizes 100,10000,100000] [--runtimes node,bun]
//                                          [--http-sizes …] [--rounds 5] [--full]
// `--full`: over HTTP, the cache has room for the entries filled and no more, so each new question evicts one.
import { Context, Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { availableParallelism, cpus, loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { CacheKey } from "../core/cache/CacheKey.ts"
import { CANDIDATES, SemanticCache } from "../core/cache/semantic/SemanticCache.ts"
import { semanticCacheLayer } from "../core/cache/semantic/semanticLayer.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { AppConfig, loadConfig } from "../core/config/Config.ts"
import { Embedder } from "../core/embedding/Embedder.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLiteFastOnly } from "../runtimes/embedding/useLiteStatic.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, type LoadTool, wrkAvailable } from "./load.ts"
import { oneQuestion } from "./requests.ts"
import { writeResults } from "./results.ts"
import { BESIDE, httpScaling, median, quantiles, question, reworded, SERVE_WOULD_BE_HITS } from "./semanticPerfHttp.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "bun" },
    hits: { type: "string", default: "300" },
    duration: { type: "string", default: "5" },
    "index-sizes": { type: "string", default: "10000,100000" },
    parts: { type: "string", default: "all" },
    sizes: { type: "string", default: "100,10000,100000" },
    runtimes: { type: "string", default: "node,bun" },
    rounds: { type: "string", default: "5" },
    "http-sizes": { type: "string" },
    full: { type: "boolean", default: false }
  }
})
const f = (n: number) => n.toFixed(2)

const sizes = values.sizes.split(",").map(Number)
const rounds = Number(values.rounds)

/** SemanticCache as the gateway wires it by default (the learned decision over the shipped fast encoder). */
const inProcessScaling = async () => {
  const hnswlib = await loadHnswlib()
  const embedder = await loadUseLiteFastOnly()
  const rows: Array<Record<string, unknown>> = []
  for (const size of sizes) {
    const samples = 200 * rounds
    const { config } = await Effect.runPromise(loadConfig({
      env: {
        ISARTOR__CACHE_MAX_CAPACITY: String(size + BESIDE + samples + 10),
        ISARTOR__CACHE_MAX_BYTES: String(2 ** 40),
        ISARTOR__CACHE_TTL_SECS: "86400",
        ...SERVE_WOULD_BE_HITS
      },
      readTextFile: async () => undefined
    }))
    const layer = semanticCacheLayer(config, { embedder, hnswlib }).pipe(
      Layer.provide(Layer.mergeAll(Embedder.layer(embedder), CacheKey.layer, AppConfig.layer(config)))
    )
    const cache = Context.get(await Effect.runPromise(Layer.build(layer).pipe(Effect.scoped)), SemanticCache)
    const beside = (text: string) => ({ ...oneQuestion(text), tenant: "beside|" })
    for (let i = 0; i < size; i++) await Effect.runPromise(cache.store(oneQuestion(question(i)), `answer ${i}`))
    for (let i = 0; i < BESIDE; i++) await Effect.runPromise(cache.store(beside(question(i)), `beside ${i}`))
    const timed = async <A, E>(effect: Effect.Effect<A, E>) => {
      const started = performance.now()
      const exit = await Effect.runPromiseExit(effect)
      return { ms: performance.now() - started, served: exit._tag === "Success" }
    }
    const hit: Array<number> = []
    const miss: Array<number> = []
    const store: Array<number> = []
    const besideHit: Array<number> = []
    let served = 0
    let besideServed = 0
    for (let r = 0; r < samples; r++) {
      const found = await timed(cache.lookup(oneQuestion(reworded(Math.floor(Math.random() * size))), undefined))
      hit.push(found.ms)
      if (found.served) served++
      const fresh = oneQuestion(question(size + BESIDE + r))
      miss.push((await timed(cache.lookup(fresh, undefined))).ms)
      store.push((await timed(cache.store(fresh, "a new answer"))).ms)
      const near = await timed(cache.lookup(beside(reworded(r % BESIDE)), undefined))
      besideHit.push(near.ms)
      if (near.served) besideServed++
    }
    rows.push({
      entries: size,
      hit: quantiles(hit),
      served: `${served}/${samples}`,
      miss: quantiles(miss),
      store: quantiles(store),
      beside: quantiles(besideHit),
      besideServed: `${besideServed}/${samples}`,
      load: loadavg()[0]!
    })
  }
  return rows
}

/** The in-process figures on another runtime: this file run there with `--parts in-process`. */
const inProcessOn = (runtime: RuntimeName) =>
  new Promise<Array<Record<string, unknown>>>((resolve, reject) =>
    execFile(
      runtimeCommand(runtime, "")[0]!,
      [
        ...runtimeCommand(runtime, fileURLToPath(import.meta.url)).slice(1),
        "--parts",
        "in-process",
        "--sizes",
        values.sizes,
        "--rounds",
        values.rounds
      ],
      { maxBuffer: 2 ** 24 },
      (error, stdout) =>
        error
          ? reject(error)
          : resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Array<Record<string, unknown>>)
    )
  )

const q = (x: unknown) => {
  const { p50, p99 } = x as { p50: number; p99: number }
  return `${f(p50)} / ${f(p99)}`
}
/** Over HTTP: p50 / p99 ms, then the gateway's CPU ms per request. */
const qc = (x: { p50: number; p99: number; cpu: number }) => `${q(x)} (cpu ${f(x.cpu)})`
const printInProcess = (inProcess: ReadonlyArray<Record<string, unknown>>) => {
  console.log(
    `L1b as one scope fills — ms p50 / p99; ${availableParallelism()} cores; a 100-entry scope beside it ("beside")`
  )
  console.log("in process (SemanticCache.lookup / store, the shipped fast encoder, learned decision):")
  console.table(inProcess.map((row) => ({
    runtime: row.runtime,
    entries: row.entries,
    "hit (reworded)": `${q(row.hit)} (${row.served as string} served)`,
    "miss lookup": q(row.miss),
    "miss store": q(row.store),
    "beside scope": `${q(row.beside)} (${row.besideServed as string})`,
    "load avg": (row.load as number).toFixed(1)
  })))
}

const scaling = async () => {
  const runtimes = values.runtimes.split(",") as Array<RuntimeName>
  const inProcess: Array<Record<string, unknown>> = []
  if (values.parts !== "http") {
    for (const runtime of runtimes) {
      for (const row of await inProcessOn(runtime)) inProcess.push({ runtime, ...row })
    }
    printInProcess(inProcess)
  }
  const http: Array<Awaited<ReturnType<typeof httpScaling>>> = []
  for (const [s, size] of (values["http-sizes"] ?? values.sizes).split(",").map(Number).entries()) {
    // Runtimes alternate in order from one size to the next: neither always runs on the busier minute.
    for (const runtime of s % 2 === 0 ? runtimes : [...runtimes].reverse()) {
      http.push(await httpScaling(runtime, size, { rounds, full: values.full }))
    }
  }
  console.log(
    `over HTTP, concurrency 1 (median of the rounds' p50s; p99 of all samples; the gateway's CPU ms per request)${
      values.full ? ", a full cache: each new question evicts an entry" : ""
    }:`
  )
  console.table(http.map((row) => ({
    runtime: row.runtime,
    entries: row.entries,
    "hit (reworded)": `${qc(row.hit)} ${JSON.stringify(row.layers)}`,
    miss: qc(row.miss),
    "caches bypassed": qc(row.bypassed),
    "beside scope": qc(row.beside),
    "load avg": row.load.toFixed(1)
  })))
  await writeResults("semantic-scaling", { inProcess, http })
}

const classic = async () => {
  const runtime = values.runtime as RuntimeName
  const hits = Number(values.hits)
  const durationSecs = Number(values.duration)
  const tool: LoadTool = (await wrkAvailable()) ? "wrk" : "autocannon"
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
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as {
        layers: { l1b: { fast_stage?: string } }
      }
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
}

if (values.parts === "in-process") {
  console.log(JSON.stringify(await inProcessScaling()))
  process.exit(0)
}
if (values.parts === "all") await classic()
await scaling()
process.exit(0)
