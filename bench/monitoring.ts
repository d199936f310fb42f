// Exact-hit throughput and L3-miss latency with OpenTelemetry export off (Prometheus metrics only, the default) and
// on (traces + metrics over OTLP to a loopback sink), same machine, same run, rounds alternated; then the same
// exact hit in-process, where the load generator and HTTP do not blur a few microseconds.
// Usage: npm run bench:monitoring -- [--runtime node|bun|deno] [--duration 5] [--rounds 3] [--connections 16]
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { parseArgs } from "node:util"
import { type Gateway, startGateway } from "../core/Gateway.ts"
import { otlpExporter } from "../runtimes/telemetry.ts"
import { startFakeOpenAI } from "../test/support/fakeOpenAI.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "../test/support/processes.ts"
import { load, type LoadTool, sequentialLatency, wrkAvailable } from "./load.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    duration: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    misses: { type: "string", default: "300" }
  }
})
const runtime = values.runtime as RuntimeName
const tool: LoadTool = (await wrkAvailable()) ? "wrk" : "autocannon"
const chatBody = (content: string) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
const hitBody = chatBody("What is the capital of France?")

// A collector that accepts every OTLP/HTTP export and keeps nothing.
const sink = createServer((request, response) => {
  request.resume()
  request.on("end", () => response.writeHead(200, { "content-type": "application/x-protobuf" }).end())
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", () => resolve()))
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`
const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})

// A port nothing listens on: the collector is down.
const downUrl = await new Promise<string>((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as AddressInfo
    probe.close(() => resolve(`http://127.0.0.1:${port}`))
  })
})
const modes = {
  off: {},
  on: {
    ISARTOR__ENABLE_MONITORING: "true",
    ISARTOR__OTEL_EXPORTER_ENDPOINT: sinkUrl,
    ISARTOR__OTEL_EXPORTER_PROTOCOL: "http/protobuf"
  },
  "collector down": { ISARTOR__ENABLE_MONITORING: "true", ISARTOR__OTEL_EXPORTER_ENDPOINT: downUrl }
} as const
const figures: Record<string, { rps: Array<number>; missP50: Array<number> }> = Object.fromEntries(
  Object.keys(modes).map((mode) => [mode, { rps: [], missP50: [] }])
)
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [mode, env] of Object.entries(modes)) {
      const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__EXTERNAL_LLM_URL: upstream.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
        ...env
      })
      try {
        const url = `${gateway.url}/v1/chat/completions`
        const connections = Number(values.connections)
        await load(tool, { url, body: hitBody, connections, durationSecs: 1 })
        const hit = await load(tool, { url, body: hitBody, connections, durationSecs: Number(values.duration) })
        const run = `${Date.now()} ${mode}`
        await sequentialLatency(url, 30, (i) => chatBody(`warm ${run} ${i}`))
        const miss = await sequentialLatency(url, Number(values.misses), (i) => chatBody(`miss ${run} ${i}`))
        figures[mode]!.rps.push(hit.requestsPerSecond)
        figures[mode]!.missP50.push(miss.p50Ms)
        console.log(
          `round ${round + 1} ${mode}: exact hit ${Math.round(hit.requestsPerSecond)} req/s, L3 miss p50 ${
            miss.p50Ms.toFixed(3)
          } ms`
        )
      } finally {
        gateway.stop()
      }
    }
  }
} finally {
  upstream.stop()
}
const median = (values: Array<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

// In-process, without HTTP or a load generator: the gateway's fetch handler, exact hits back to back, rounds
// interleaved; the best round of each is the figure least disturbed by whatever else the machine runs.
const inProcess = async () => {
  const gateways = await Promise.all([false, true].map((on) =>
    startGateway({
      env: {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__EXTERNAL_LLM_URL: upstreamInProcess.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
        ...(on ? modes.on : {})
      },
      readTextFile: async () => undefined
    }, { log: { info: () => undefined, warn: () => undefined }, telemetry: otlpExporter({}) })
  ))
  const hit = (gateway: Gateway) =>
    Promise.resolve(
      gateway.fetch(
        new Request("http://gateway/v1/chat/completions", {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": String(hitBody.length) },
          body: hitBody
        })
      )
    ).then((response) => response.text())
  const round = async (gateway: Gateway, count: number) => {
    const started = performance.now()
    for (let index = 0; index < count; index++) await hit(gateway)
    return ((performance.now() - started) * 1000) / count
  }
  const micros: [Array<number>, Array<number>] = [[], []]
  for (const gateway of gateways) await round(gateway, 500)
  for (let index = 0; index < 30; index++) {
    micros[0].push(await round(gateways[0]!, 2000))
    micros[1].push(await round(gateways[1]!, 2000))
  }
  for (const gateway of gateways) await gateway.dispose()
  return micros.map((values) => ({ best: Math.min(...values), median: median(values) }))
}
const upstreamInProcess = await startFakeOpenAI({ apiKey: "sk-bench-0000000000000000" })
const [offInProcess, onInProcess] = await inProcess()
await upstreamInProcess.close()
sink.close()
console.log(
  `\nin-process exact hit, µs per request (best / median of 30 rounds of 2,000): off ${
    offInProcess!.best.toFixed(1)
  } / ${offInProcess!.median.toFixed(1)}, on ${onInProcess!.best.toFixed(1)} / ${onInProcess!.median.toFixed(1)}: ${
    (100 * (onInProcess!.best / offInProcess!.best - 1)).toFixed(1)
  } % more per hit with tracing on`
)
const off = { rps: median(figures.off!.rps), miss: median(figures.off!.missP50) }
const on = { rps: median(figures.on!.rps), miss: median(figures.on!.missP50) }
const down = { rps: median(figures["collector down"]!.rps), miss: median(figures["collector down"]!.missP50) }
console.log(`\n${runtime}, ${tool}, medians of ${values.rounds} rounds:`)
console.table({
  "monitoring off (Prometheus metrics only)": {
    "exact hit req/s": Math.round(off.rps),
    "L3 miss p50 ms": off.miss.toFixed(3)
  },
  "monitoring on, collector down (gRPC)": {
    "exact hit req/s": Math.round(down.rps),
    "L3 miss p50 ms": down.miss.toFixed(3)
  },
  "monitoring on (traces + OTLP metrics)": {
    "exact hit req/s": Math.round(on.rps),
    "L3 miss p50 ms": on.miss.toFixed(3)
  }
})
console.log(
  `exact hits with tracing on: ${(100 * (on.rps / off.rps - 1)).toFixed(1)} % throughput; L3 miss p50 ${
    (on.miss - off.miss).toFixed(3)
  } ms`
)
