// Overhead benchmark: exact-hit throughput and latency against a bare Hono server on the same runtime, and the
// latency the gateway adds on the miss path against calling the fake upstream directly. Prints figures; asserts
// nothing. Usage: npm run bench -- [--runtimes node,bun,deno] [--duration 10] [--connections 16]
//                                  [--misses 500] [--tool wrk|autocannon] [--smoke]
import { execFile } from "node:child_process"
import { mkdir, writeFile } from "node:fs/promises"
import { availableParallelism, cpus } from "node:os"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, type LoadResult, type LoadTool, sequentialLatency, wrkAvailable } from "./load.ts"

const { values } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node,bun,deno" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    misses: { type: "string", default: "500" },
    tool: { type: "string" },
    smoke: { type: "boolean", default: false }
  }
})
const smoke = values.smoke
const runtimes = values.runtimes.split(",").map((name) => name.trim()) as Array<RuntimeName>
const durationSecs = smoke ? 1 : Number(values.duration)
const connections = Number(values.connections)
const misses = smoke ? 20 : Number(values.misses)
const tool: LoadTool = (values.tool as LoadTool | undefined) ?? ((await wrkAvailable()) ? "wrk" : "autocannon")

const chatBody = (content: string) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content }]
  })
const hitBody = chatBody("What is the capital of France?")

const versionOf = async (runtime: RuntimeName): Promise<string> => {
  if (runtime === "node") return process.version
  const binary = runtimeCommand(runtime, "")[0]!
  return new Promise((resolve) =>
    execFile(binary, ["--version"], (_error, stdout) => resolve(/\d+\.\d+\.\d+/.exec(stdout)?.[0] ?? "unknown"))
  )
}

interface RuntimeFigures {
  readonly runtime: RuntimeName
  readonly version: string
  readonly bare: LoadResult
  readonly exactHit: LoadResult
  readonly ratio: number
  readonly direct: { p50Ms: number; p99Ms: number }
  readonly viaGateway: { p50Ms: number; p99Ms: number }
  readonly addedP50Ms: number
  readonly addedP99Ms: number
}

const measure = async (runtime: RuntimeName, upstreamUrl: string): Promise<RuntimeFigures> => {
  const started: Array<StartedProcess> = []
  try {
    const bare = await startProcess(runtimeCommand(runtime, "bench/bare.ts"), {})
    started.push(bare)
    const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__EXTERNAL_LLM_URL: upstreamUrl,
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000"
    })
    started.push(gateway)
    const gatewayChat = `${gateway.url}/v1/chat/completions`

    // Warm both servers (JIT, the cache entry) before anything is measured.
    await load(tool, { url: `${bare.url}/`, body: hitBody, connections, durationSecs: 1 })
    await sequentialLatency(gatewayChat, 1, () => hitBody)
    await load(tool, { url: gatewayChat, body: hitBody, connections, durationSecs: 1 })

    const bareResult = await load(tool, { url: `${bare.url}/`, body: hitBody, connections, durationSecs })
    const exactHit = await load(tool, { url: gatewayChat, body: hitBody, connections, durationSecs })

    const run = Date.now()
    await sequentialLatency(`${upstreamUrl}/chat/completions`, 50, (i) => chatBody(`warm direct ${run} ${i}`))
    await sequentialLatency(gatewayChat, 50, (i) => chatBody(`warm gateway ${run} ${i}`))
    const direct = await sequentialLatency(
      `${upstreamUrl}/chat/completions`,
      misses,
      (i) => chatBody(`direct ${run} ${i}`)
    )
    const viaGateway = await sequentialLatency(gatewayChat, misses, (i) => chatBody(`miss ${run} ${i}`))
    return {
      runtime,
      version: await versionOf(runtime),
      bare: bareResult,
      exactHit,
      ratio: exactHit.requestsPerSecond / bareResult.requestsPerSecond,
      direct,
      viaGateway,
      addedP50Ms: viaGateway.p50Ms - direct.p50Ms,
      addedP99Ms: viaGateway.p99Ms - direct.p99Ms
    }
  } finally {
    for (const process of started) process.stop()
  }
}

const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
const results: Array<RuntimeFigures> = []
try {
  console.log(
    `isartor overhead bench — ${tool}, ${connections} connections, ${durationSecs} s per run, ${misses} sequential misses; ` +
      `machine: ${availableParallelism()} cores (${
        cpus()[0]?.model ?? "unknown cpu"
      }), node ${process.version}; upstream latency 0 ms`
  )
  for (const runtime of runtimes) {
    process.stdout.write(`measuring ${runtime}…\n`)
    results.push(await measure(runtime, upstream.url))
  }
} finally {
  upstream.stop()
}

const f = (n: number, digits = 2) => n.toFixed(digits)
console.log("\nexact hit (L1a) vs bare Hono, same runtime, POST /v1/chat/completions")
console.table(results.map((r) => ({
  runtime: `${r.runtime} ${r.version}`,
  "bare req/s": Math.round(r.bare.requestsPerSecond),
  "bare p50/p99 ms": `${f(r.bare.p50Ms)} / ${f(r.bare.p99Ms)}`,
  "L1a req/s": Math.round(r.exactHit.requestsPerSecond),
  "L1a p50/p99 ms": `${f(r.exactHit.p50Ms)} / ${f(r.exactHit.p99Ms)}`,
  ratio: f(r.ratio),
  errors: r.bare.errors + r.exactHit.errors
})))
console.log("miss path (L3, upstream 0 ms), concurrency 1: added latency = via gateway − direct")
console.table(results.map((r) => ({
  runtime: r.runtime,
  "direct p50/p99 ms": `${f(r.direct.p50Ms, 3)} / ${f(r.direct.p99Ms, 3)}`,
  "gateway p50/p99 ms": `${f(r.viaGateway.p50Ms, 3)} / ${f(r.viaGateway.p99Ms, 3)}`,
  "added p50 ms": f(r.addedP50Ms, 3),
  "added p99 ms": f(r.addedP99Ms, 3)
})))

await mkdir(new URL("./results/", import.meta.url), { recursive: true })
const file = new URL(`./results/overhead-${new Date().toISOString().replace(/[:.]/g, "-")}.json`, import.meta.url)
await writeFile(
  file,
  JSON.stringify({ tool, connections, durationSecs, misses, cores: availableParallelism(), results }, null, 2)
)
console.log(`written ${file.pathname}`)
