// Redis figures: L1a hit latency with Redis vs in memory, and how long an L1b entry cached through replica A takes
// to reach replica B. Starts its own redis-server (Debian's) and gateway processes. Prints figures.
// With --cluster the replicas share a local 3-master Redis Cluster instead. Then (single Redis only) the kill test:
// a bounded stream of requests during which redis-server is killed and restarted, counting failed requests.
// Usage: npm run bench:redis -- [--runtime node] [--hits 1000] [--propagations 20] [--stream 600] [--cluster]
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { startRedis, startRedisCluster } from "../test/support/redis.ts"
import { sequentialLatency } from "./load.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    hits: { type: "string", default: "1000" },
    propagations: { type: "string", default: "20" },
    stream: { type: "string", default: "600" },
    cluster: { type: "boolean", default: false }
  }
})
const runtime = values.runtime as RuntimeName
const redis = values.cluster ? await startRedisCluster(3) : await startRedis()
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
  const memory = await startProcess(
    runtimeCommand(runtime, `runtimes/${runtime}.ts`),
    gatewayEnv(upstream.url, "memory")
  )
  const replicaA = await startProcess(
    runtimeCommand(runtime, `runtimes/${runtime}.ts`),
    gatewayEnv(upstream.url, "redis")
  )
  const replicaB = await startProcess(
    runtimeCommand(runtime, `runtimes/${runtime}.ts`),
    gatewayEnv(upstream.url, "redis")
  )
  started.push(memory, replicaA, replicaB)
  const version = /\(([^)]+)\)/.exec(memory.output())?.[1] ?? runtime
  const hit = JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "What is your return policy?" }]
  })
  const hits = Number(values.hits)
  const latency: Record<string, { p50Ms: number; p99Ms: number }> = {}
  for (const [name, gateway] of [["memory", memory], ["redis", replicaA]] as const) {
    await sequentialLatency(`${gateway.url}/v1/chat/completions`, 50, () => hit)
    latency[name] = await sequentialLatency(`${gateway.url}/v1/chat/completions`, hits, () => hit)
  }

  const entries = async () =>
    ((await (await fetch(`${replicaB.url}/health`)).json()) as { layers: { l1b: { entries: number } } }).layers.l1b
      .entries
  const delays: Array<number> = []
  for (let i = 0; i < Number(values.propagations); i++) {
    const before = await entries()
    await fetch(`${replicaA.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify({ prompt: `Propagation question number ${i} about order ${Date.now()}` })
    })
    const answered = performance.now()
    while ((await entries()) <= before && performance.now() - answered < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    delays.push(performance.now() - answered)
  }
  delays.sort((a, b) => a - b)

  // Kill test: redis-server is SIGKILLed a third of the way through a stream of requests (8 at a time) and started
  // again two thirds of the way through; the gateway is not restarted.
  const stream = Number(values.stream)
  const outcomes = { failed: 0, byLayer: {} as Record<string, number>, firstHitAfterRestartMs: Number.NaN }
  if ("start" in redis) {
    let next = 0
    let outage: Promise<void> = Promise.resolve()
    let restartedAt = Number.NaN
    const worker = async () => {
      while (next < stream) {
        const index = next++
        if (index === Math.floor(stream / 3)) outage = redis.stop()
        if (index === Math.floor((2 * stream) / 3)) {
          outage = outage.then(() => redis.start()).then(() => void (restartedAt = performance.now()))
        }
        const response = await fetch(`${replicaA.url}/api/chat`, {
          method: "POST",
          body: JSON.stringify({ prompt: `Kill-test question ${index % 10}` })
        }).catch(() => undefined)
        await response?.arrayBuffer()
        if (response?.status !== 200) outcomes.failed++
        const layer = response?.headers.get("x-isartor-layer") ?? "none"
        outcomes.byLayer[layer] = (outcomes.byLayer[layer] ?? 0) + 1
        if (layer === "l1a" && Number.isNaN(outcomes.firstHitAfterRestartMs) && !Number.isNaN(restartedAt)) {
          outcomes.firstHitAfterRestartMs = performance.now() - restartedAt
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    await outage
  }

  const figures = {
    runtime: version,
    cores: availableParallelism(),
    hits,
    l1aHitMs: latency,
    redis: values.cluster ? "cluster of 3 masters" : "single server",
    propagationMs: { p50: delays[Math.floor(delays.length / 2)]!, max: delays[delays.length - 1]! },
    killTest: "start" in redis ? { requests: stream, ...outcomes } : undefined
  }
  console.log(
    `Redis figures — gateways on ${version}, ${figures.redis} (Debian's redis-server) on loopback, ${availableParallelism()} cores`
  )
  console.table([
    {
      figure: `L1a hit, in memory (${hits} sequential, HTTP)`,
      value: `p50 ${latency.memory!.p50Ms.toFixed(3)} ms, p99 ${latency.memory!.p99Ms.toFixed(3)} ms`
    },
    {
      figure: `L1a hit, Redis (${hits} sequential, HTTP)`,
      value: `p50 ${latency.redis!.p50Ms.toFixed(3)} ms, p99 ${latency.redis!.p99Ms.toFixed(3)} ms`
    },
    {
      figure: `L1b entry from replica A in replica B's index (${delays.length} answers, after A answered)`,
      value: `p50 ${figures.propagationMs.p50.toFixed(1)} ms, max ${figures.propagationMs.max.toFixed(1)} ms`
    },
    ...(figures.killTest
      ? [{
        figure: `kill test: ${stream} requests (c=8), redis-server killed at ${Math.floor(stream / 3)}, restarted at ${
          Math.floor((2 * stream) / 3)
        }`,
        value: `${outcomes.failed} failed; by layer ${JSON.stringify(outcomes.byLayer)}; first L1a hit ${
          outcomes.firstHitAfterRestartMs.toFixed(0)
        } ms after restart`
      }]
      : [])
  ])
  await writeResults("redis", figures)
} finally {
  for (const process of started) process.stop()
  await redis.stop()
}
