// Redis figures: L1a hit latency with Redis vs in memory, and how long an L1b entry cached through replica A takes
// to reach replica B. Starts its own redis-server (Debian's) and gateway processes. Prints figures.
// Usage: npm run bench:redis -- [--runtime node] [--hits 1000] [--propagations 20]
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { type RuntimeName, runtimeCommand, startProcess, type StartedProcess } from "../test/support/processes.ts"
import { startRedis } from "../test/support/redis.ts"
import { sequentialLatency } from "./load.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    hits: { type: "string", default: "1000" },
    propagations: { type: "string", default: "20" }
  }
})
const runtime = values.runtime as RuntimeName
const redis = await startRedis()
const started: Array<StartedProcess> = []
const gatewayEnv = (upstream: string, backend: string) => ({
  ISARTOR__HOST_PORT: "127.0.0.1:0",
  ISARTOR__EXTERNAL_LLM_URL: upstream,
  ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
  ISARTOR__CACHE_BACKEND: backend,
  ISARTOR__REDIS_URL: redis.url
})
try {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
  started.push(upstream)
  const memory = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), gatewayEnv(upstream.url, "memory"))
  const replicaA = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), gatewayEnv(upstream.url, "redis"))
  const replicaB = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), gatewayEnv(upstream.url, "redis"))
  started.push(memory, replicaA, replicaB)
  const version = /\(([^)]+)\)/.exec(memory.output())?.[1] ?? runtime
  const hit = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "What is your return policy?" }] })
  const hits = Number(values.hits)
  const latency: Record<string, { p50Ms: number; p99Ms: number }> = {}
  for (const [name, gateway] of [["memory", memory], ["redis", replicaA]] as const) {
    await sequentialLatency(`${gateway.url}/v1/chat/completions`, 50, () => hit)
    latency[name] = await sequentialLatency(`${gateway.url}/v1/chat/completions`, hits, () => hit)
  }

  const entries = async () =>
    ((await (await fetch(`${replicaB.url}/health`)).json()) as { layers: { l1b: { entries: number } } }).layers.l1b.entries
  const delays: Array<number> = []
  for (let i = 0; i < Number(values.propagations); i++) {
    const before = await entries()
    await fetch(`${replicaA.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt: `Propagation question number ${i} about order ${Date.now()}` }) })
    const answered = performance.now()
    while ((await entries()) <= before && performance.now() - answered < 5000) await new Promise((resolve) => setTimeout(resolve, 2))
    delays.push(performance.now() - answered)
  }
  delays.sort((a, b) => a - b)
  const figures = {
    runtime: version,
    cores: availableParallelism(),
    hits,
    l1aHitMs: latency,
    propagationMs: { p50: delays[Math.floor(delays.length / 2)]!, max: delays[delays.length - 1]! }
  }
  console.log(`Redis figures — gateways on ${version}, redis-server (Debian) on loopback, ${availableParallelism()} cores`)
  console.table([
    { figure: `L1a hit, in memory (${hits} sequential, HTTP)`, value: `p50 ${latency.memory!.p50Ms.toFixed(3)} ms, p99 ${latency.memory!.p99Ms.toFixed(3)} ms` },
    { figure: `L1a hit, Redis (${hits} sequential, HTTP)`, value: `p50 ${latency.redis!.p50Ms.toFixed(3)} ms, p99 ${latency.redis!.p99Ms.toFixed(3)} ms` },
    {
      figure: `L1b entry from replica A in replica B's index (${delays.length} answers, after A answered)`,
      value: `p50 ${figures.propagationMs.p50.toFixed(1)} ms, max ${figures.propagationMs.max.toFixed(1)} ms`
    }
  ])
  await writeResults("redis", figures)
} finally {
  for (const process of started) process.stop()
  await redis.stop()
}
