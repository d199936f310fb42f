// Peer comparison on the miss path: Isartor and the Portkey OSS gateway proxying to the same fake upstream
// (0 ms), next to calling the upstream directly. Prints figures; asserts nothing.
// Usage: npm run bench:peers -- [--runtime node] [--requests 500] [--duration 10] [--connections 16]
import { availableParallelism, cpus } from "node:os"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, type LoadTool, sequentialLatency, wrkAvailable } from "./load.ts"
import { startPortkey } from "./portkey.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    requests: { type: "string", default: "500" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    tool: { type: "string" }
  }
})
const runtime = values.runtime as RuntimeName
const requests = Number(values.requests)
const durationSecs = Number(values.duration)
const connections = Number(values.connections)
const tool: LoadTool = (values.tool as LoadTool | undefined) ?? ((await wrkAvailable()) ? "wrk" : "autocannon")

const MARK = "__UNIQUE__"
const body = (content: string) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
const bypass = { "cache-control": "no-cache, no-store" }

const started: Array<StartedProcess> = []
try {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
  started.push(upstream)
  const isartor = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__L3_MAX_RETRIES: "0"
  })
  started.push(isartor)
  const isartorRuntime = /\(([^)]+)\)/.exec(isartor.output())?.[1] ?? runtime
  const portkey = await startPortkey(upstream.url)
  started.push(portkey.process)

  const targets = [
    { name: "upstream directly", url: `${upstream.url}/chat/completions`, headers: {} },
    { name: `isartor (${runtime}), caches bypassed`, url: `${isartor.url}/v1/chat/completions`, headers: bypass },
    {
      name: `isartor (${runtime}), new prompts (L1a+L1b miss)`,
      url: `${isartor.url}/v1/chat/completions`,
      headers: {}
    },
    {
      name: `portkey ${portkey.version} (node)`,
      ...portkey.target
    }
  ]
  console.log(
    `peer comparison, miss path — isartor on ${isartorRuntime}, upstream 0 ms; ${requests} sequential requests (concurrency 1), then ${tool} at ${connections} ` +
      `connections for ${durationSecs} s; machine ${availableParallelism()} cores (${
        cpus()[0]?.model ?? "cpu"
      }), node ${process.version}`
  )
  const run = Date.now()
  const rows = []
  for (const target of targets) {
    process.stdout.write(`measuring ${target.name}…\n`)
    await sequentialLatency(target.url, 30, (i) => body(`warm ${run} ${i}`), target.headers)
    const latency = await sequentialLatency(
      target.url,
      requests,
      (i) => body(`${target.name} ${run} ${i}`),
      target.headers
    )
    const throughput = await load(tool, {
      url: target.url,
      body: body(`load ${run} ${MARK}`),
      uniqueMarker: MARK,
      connections,
      durationSecs,
      headers: target.headers
    })
    rows.push({
      target: target.name,
      p50: latency.p50Ms,
      p99: latency.p99Ms,
      rps: throughput.requestsPerSecond,
      errors: throughput.errors
    })
  }
  const direct = rows[0]!
  console.table(rows.map((row) => ({
    target: row.target,
    "p50 ms (c=1)": row.p50.toFixed(3),
    "added p50 ms": row === direct ? "—" : (row.p50 - direct.p50).toFixed(3),
    "p99 ms (c=1)": row.p99.toFixed(3),
    [`req/s (c=${connections})`]: Math.round(row.rps),
    errors: row.errors
  })))
  await writeResults("peers", {
    runtime,
    tool,
    connections,
    durationSecs,
    requests,
    portkeyVersion: portkey.version,
    cores: availableParallelism(),
    rows
  })
} finally {
  for (const process of started) process.stop()
}
