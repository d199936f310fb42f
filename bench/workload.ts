// Workload replay: a real gateway (L1a + L1b) in front of a fake upstream with a set latency, fed a file of
// {"prompt"} lines; reports deflection and latency per layer, throughput and peak RSS, as a table, JSON and SVG.
// Usage: npm run bench:workload -- [--workload data/isartor-faq_loop.jsonl] [--runtime node]
//        [--endpoint native|openai] [--concurrency 8] [--latency 300] [--limit N]
import { readFile } from "node:fs/promises"
import { availableParallelism, cpus } from "node:os"
import { basename } from "node:path"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { writeResults } from "./results.ts"
import { chartSvg } from "./svg.ts"

const { values } = parseArgs({
  options: {
    workload: { type: "string", default: "data/isartor-faq_loop.jsonl" },
    runtime: { type: "string", default: "node" },
    endpoint: { type: "string", default: "native" },
    concurrency: { type: "string", default: "8" },
    latency: { type: "string", default: "300" },
    limit: { type: "string" },
    "cache-mode": { type: "string", default: "both" }
  }
})
const runtime = values.runtime as RuntimeName
const concurrency = Number(values.concurrency)
const latencyMs = Number(values.latency)
const lines = (await readFile(values.workload, "utf8")).trim().split("\n").map((line) =>
  (JSON.parse(line) as { prompt: string }).prompt
)
const prompts = values.limit ? lines.slice(0, Number(values.limit)) : lines
const LAYERS = ["l1a", "l1b", "l2", "l3"] as const

/** Peak resident set of a process, from Linux's /proc (VmHWM). */
const peakRssMb = async (pid: number | undefined) => {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "")
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  return kb / 1024
}

const percentile = (sorted: Array<number>, q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const started: Array<StartedProcess> = []
try {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", String(latencyMs)], {})
  started.push(upstream)
  const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__CACHE_MODE: values["cache-mode"]
  })
  started.push(gateway)
  const runtimeVersion = /\(([^)]+)\)/.exec(gateway.output())?.[1] ?? runtime
  console.log(
    `workload ${basename(values.workload)} — ${prompts.length} prompts via ${
      values.endpoint === "openai" ? "/v1/chat/completions" : "/api/chat"
    }, ` +
      `concurrency ${concurrency}, upstream latency ${latencyMs} ms, cache_mode ${
        values["cache-mode"]
      }; gateway on ${runtimeVersion}; ` +
      `machine ${availableParallelism()} cores (${cpus()[0]?.model ?? "cpu"}), node ${process.version}`
  )

  const samples: Array<{ layer: string; ms: number }> = []
  let next = 0
  let done = 0
  const draw = () => {
    const width = 30
    const filled = Math.round((done / prompts.length) * width)
    process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${prompts.length}`)
  }
  const send = async (prompt: string) => {
    const openai = values.endpoint === "openai"
    const startedAt = performance.now()
    const response = await fetch(`${gateway.url}${openai ? "/v1/chat/completions" : "/api/chat"}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(
        openai ? { model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] } : { prompt }
      )
    })
    await response.arrayBuffer()
    samples.push({
      layer: response.status === 200 ? response.headers.get("x-isartor-layer") ?? "?" : `error ${response.status}`,
      ms: performance.now() - startedAt
    })
  }
  const wallStart = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < prompts.length) {
      await send(prompts[next++]!)
      done++
      if (done % 10 === 0 || done === prompts.length) draw()
    }
  }))
  const wallSecs = (performance.now() - wallStart) / 1000
  process.stderr.write("\n")

  const perLayer = LAYERS.map((layer) => {
    const times = samples.filter((sample) => sample.layer === layer).map((sample) => sample.ms).sort((a, b) => a - b)
    return {
      layer,
      count: times.length,
      share: times.length / samples.length,
      p50: percentile(times, 0.5),
      p95: percentile(times, 0.95),
      p99: percentile(times, 0.99)
    }
  })
  const errors = samples.filter((sample) => !LAYERS.includes(sample.layer as typeof LAYERS[number])).length
  const deflected = perLayer.filter((row) => row.layer !== "l3").reduce((sum, row) => sum + row.count, 0) /
    samples.length
  const figures = {
    workload: basename(values.workload),
    prompts: prompts.length,
    runtime,
    endpoint: values.endpoint,
    concurrency,
    upstreamLatencyMs: latencyMs,
    cacheMode: values["cache-mode"],
    deflection: deflected,
    requestsPerSecond: samples.length / wallSecs,
    peakRssMb: await peakRssMb(gateway.child.pid),
    errors,
    perLayer
  }
  console.table(perLayer.map((row) => ({
    layer: row.layer,
    requests: row.count,
    share: `${(row.share * 100).toFixed(1)} %`,
    "p50 ms": row.p50.toFixed(2),
    "p95 ms": row.p95.toFixed(2),
    "p99 ms": row.p99.toFixed(2)
  })))
  console.log(
    `deflected ${(deflected * 100).toFixed(1)} % · ${figures.requestsPerSecond.toFixed(1)} req/s · peak RSS ${
      figures.peakRssMb.toFixed(0)
    } MB · errors ${errors}`
  )
  const json = await writeResults(`workload-${basename(values.workload, ".jsonl")}-${runtime}`, figures)
  await writeResults(`workload-${basename(values.workload, ".jsonl")}-${runtime}`, undefined, "svg", chartSvg(figures))
  void json
} finally {
  for (const process of started) process.stop()
}
