// Overhead benchmark: every figure of issue 17's table, each a ratio or a difference measured in the same run with
// rounds alternated (a shared 2-core machine drifts between runs, not between neighbouring rounds):
// exact-hit throughput and p99 against a bare Hono server on the same runtime; the same exact hits with monitoring
// exported (OTLP traces + metrics to a loopback sink) against the default; the latency the gateway adds on the miss
// path with the caches bypassed against calling the fake upstream directly (requests interleaved one by one); and
// miss-path throughput against the Portkey OSS gateway (as `npm run bench:peers`). Prints figures; asserts nothing.
// Usage: npm run bench -- [--runtimes node,bun,deno] [--duration 10] [--rounds 3] [--connections 16]
//                         [--misses 500] [--peers bun|none] [--tool wrk|autocannon] [--smoke] [--agent on|none]
// It ends with the agent row (bench/agent.ts: large streamed Claude Code and Codex requests), unless `--agent none`.
import { execFile } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { availableParallelism, cpus, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { runAgentBench } from "./agent.ts"
import { load, type LoadResult, type LoadTool, wrkAvailable } from "./load.ts"
import { startPortkey } from "./portkey.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node,bun,deno" },
    duration: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    misses: { type: "string", default: "500" },
    peers: { type: "string", default: "bun" },
    tool: { type: "string" },
    smoke: { type: "boolean", default: false },
    agent: { type: "string", default: "on" }
  }
})
const smoke = values.smoke
const runtimes = values.runtimes.split(",").map((name) => name.trim()) as Array<RuntimeName>
const durationSecs = smoke ? 1 : Number(values.duration)
const rounds = smoke ? 1 : Number(values.rounds)
const connections = Number(values.connections)
const misses = smoke ? 20 : Number(values.misses)
const peerRuntimes = values.peers === "none" ? [] : values.peers.split(",") as Array<RuntimeName>
const tool: LoadTool = (values.tool as LoadTool | undefined) ?? ((await wrkAvailable()) ? "wrk" : "autocannon")

const chatBody = (content: string) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content }]
  })
const hitBody = chatBody("What is the capital of France?")
/** The miss path alone: no cache read, no cache write (and so no embedding for L1b). */
const bypass = { "cache-control": "no-cache, no-store" }
const MARK = "__UNIQUE__"

const versionOf = async (runtime: RuntimeName): Promise<string> => {
  if (runtime === "node") return process.version
  const binary = runtimeCommand(runtime, "")[0]!
  return new Promise((resolve) =>
    execFile(binary, ["--version"], (_error, stdout) => resolve(/\d+\.\d+\.\d+/.exec(stdout)?.[0] ?? "unknown"))
  )
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly values: ReadonlyArray<number>
}
const spread = (values: ReadonlyArray<number>): Spread => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  values
})

/** One POST, timed from send to the last byte of the answer. */
const timedPost = async (url: string, body: string, headers: Record<string, string>) => {
  const started = performance.now()
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body
  })
  await response.arrayBuffer()
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`)
  return performance.now() - started
}

/** Sequential new prompts, direct and through the gateway in turn, one by one: both see the same machine. */
const interleavedMisses = async (directUrl: string, gatewayUrl: string, count: number) => {
  const run = Date.now()
  const direct: Array<number> = []
  const gateway: Array<number> = []
  for (let i = 0; i < count; i++) {
    direct.push(await timedPost(directUrl, chatBody(`direct ${run} ${i}`), {}))
    gateway.push(await timedPost(gatewayUrl, chatBody(`miss ${run} ${i}`), bypass))
  }
  const at = (samples: Array<number>, q: number) =>
    samples.sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return {
    direct: { p50Ms: at(direct, 0.5), p99Ms: at(direct, 0.99) },
    viaGateway: { p50Ms: at(gateway, 0.5), p99Ms: at(gateway, 0.99) }
  }
}

// A collector that accepts every OTLP/HTTP export and keeps nothing: monitoring on, at no collector's cost.
const sink = createServer((request, response) => {
  request.resume()
  request.on("end", () => response.writeHead(200, { "content-type": "application/x-protobuf" }).end())
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", () => resolve()))
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`

const gatewayEnv = (upstreamUrl: string, extra: Record<string, string> = {}) => ({
  ISARTOR__HOST_PORT: "127.0.0.1:0",
  ISARTOR__EXTERNAL_LLM_URL: upstreamUrl,
  ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
  ISARTOR__L3_MAX_RETRIES: "0",
  ...extra
})

interface RuntimeFigures {
  readonly runtime: RuntimeName
  readonly version: string
  readonly rounds: Array<
    {
      bare: LoadResult
      bareReadsBody: LoadResult
      bareSameBytes: LoadResult
      exactHit: LoadResult
      monitored: LoadResult
    }
  >
  readonly ratio: Spread
  /** Against a bare server that reads each request's body (the issue's baseline does not), and its own ÷ bare. */
  readonly ratioReadsBody: Spread
  readonly bareReadsBodyRatio: Spread
  /** Against a bare server sending the very bytes of the gateway's exact hit (see bench/bare.ts). */
  readonly ratioSameBytes: Spread
  readonly answerBytes: number
  readonly exactHitP99Ms: Spread
  readonly monitoringRatio: Spread
  readonly direct: { p50Ms: number; p99Ms: number }
  readonly viaGateway: { p50Ms: number; p99Ms: number }
  readonly addedP50Ms: Spread
}

const measure = async (runtime: RuntimeName, upstreamUrl: string): Promise<RuntimeFigures> => {
  const started: Array<StartedProcess> = []
  try {
    const bare = await startProcess(runtimeCommand(runtime, "bench/bare.ts"), {})
    started.push(bare)
    const bareReadsBody = await startProcess([...runtimeCommand(runtime, "bench/bare.ts"), "--read-body"], {})
    started.push(bareReadsBody)
    const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), gatewayEnv(upstreamUrl))
    started.push(gateway)
    const monitoredGateway = await startProcess(
      runtimeCommand(runtime, `runtimes/${runtime}.ts`),
      gatewayEnv(upstreamUrl, {
        ISARTOR__ENABLE_MONITORING: "true",
        ISARTOR__OTEL_EXPORTER_ENDPOINT: sinkUrl,
        ISARTOR__OTEL_EXPORTER_PROTOCOL: "http/protobuf"
      })
    )
    started.push(monitoredGateway)
    const chat = (server: StartedProcess) => `${server.url}/v1/chat/completions`
    // The issue's baseline answers a 233-byte JSON with two headers; the gateway's hit is the upstream's answer
    // (≈ 360 bytes) with its x-isartor-* headers. Deno writes a response of up to 512 bytes in one send and a longer
    // one's head and body in two, which alone costs it a third of its req/s here: so the gateway is also compared
    // with a bare server sending its very answer and headers.
    const hit = await fetch(chat(gateway), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: hitBody
    })
    const answer = await hit.text()
    const answerHeaders = Object.fromEntries([...hit.headers].filter(([name]) => /^(x-isartor-|age$)/.test(name)))
    const bareSameBytes = await startProcess(
      [...runtimeCommand(runtime, "bench/bare.ts"), answer, JSON.stringify(answerHeaders)],
      {}
    )
    started.push(bareSameBytes)
    const targets = {
      bare: `${bare.url}/`,
      bareReadsBody: `${bareReadsBody.url}/`,
      bareSameBytes: `${bareSameBytes.url}/`,
      exactHit: chat(gateway),
      monitored: chat(monitoredGateway)
    }

    // Warm every server (JIT, the cache entry) before anything is measured.
    for (const url of Object.values(targets)) {
      await timedPost(url, hitBody, {})
      await load(tool, { url, body: hitBody, connections, durationSecs: smoke ? 1 : 2 })
    }
    const measured: RuntimeFigures["rounds"] = []
    for (let round = 0; round < rounds; round++) {
      // The order turns each round, so no target always runs first (or last) after a pause.
      const order = (["bare", "bareReadsBody", "bareSameBytes", "exactHit", "monitored"] as const).map((_, i, all) =>
        all[(i + round) % all.length]!
      )
      const results: Partial<Record<(typeof order)[number], LoadResult>> = {}
      for (const name of order) {
        results[name] = await load(tool, { url: targets[name], body: hitBody, connections, durationSecs })
      }
      measured.push(results as RuntimeFigures["rounds"][number])
    }

    await interleavedMisses(`${upstreamUrl}/chat/completions`, chat(gateway), 50)
    const missRounds = []
    for (let round = 0; round < rounds; round++) {
      missRounds.push(
        await interleavedMisses(`${upstreamUrl}/chat/completions`, chat(gateway), Math.ceil(misses / rounds))
      )
    }
    const last = missRounds[missRounds.length - 1]!
    return {
      runtime,
      version: await versionOf(runtime),
      rounds: measured,
      ratio: spread(measured.map((r) => r.exactHit.requestsPerSecond / r.bare.requestsPerSecond)),
      ratioReadsBody: spread(measured.map((r) => r.exactHit.requestsPerSecond / r.bareReadsBody.requestsPerSecond)),
      bareReadsBodyRatio: spread(measured.map((r) => r.bareReadsBody.requestsPerSecond / r.bare.requestsPerSecond)),
      ratioSameBytes: spread(measured.map((r) => r.exactHit.requestsPerSecond / r.bareSameBytes.requestsPerSecond)),
      answerBytes: new TextEncoder().encode(answer).length,
      exactHitP99Ms: spread(measured.map((r) => r.exactHit.p99Ms)),
      monitoringRatio: spread(measured.map((r) => r.monitored.requestsPerSecond / r.exactHit.requestsPerSecond)),
      direct: last.direct,
      viaGateway: last.viaGateway,
      addedP50Ms: spread(missRounds.map((r) => r.viaGateway.p50Ms - r.direct.p50Ms))
    }
  } finally {
    for (const process of started) process.stop()
  }
}

interface PeerFigures {
  readonly runtime: RuntimeName
  readonly portkeyVersion: string
  readonly isartorRps: Spread
  readonly portkeyRps: Spread
  readonly ratio: Spread
}

/** Miss-path throughput (a new prompt per request, caches bypassed) against Portkey's OSS gateway, rounds alternated. */
const measurePeers = async (runtime: RuntimeName, upstreamUrl: string): Promise<PeerFigures> => {
  const started: Array<StartedProcess> = []
  try {
    const isartor = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), gatewayEnv(upstreamUrl))
    started.push(isartor)
    const portkey = await startPortkey(upstreamUrl)
    started.push(portkey.process)
    const portkeyVersion = portkey.version
    const targets = {
      isartor: { url: `${isartor.url}/v1/chat/completions`, headers: bypass },
      portkey: portkey.target
    }
    const body = chatBody(`load ${Date.now()} ${MARK}`)
    for (const target of Object.values(targets)) {
      await load(tool, { ...target, body, uniqueMarker: MARK, connections, durationSecs: smoke ? 1 : 2 })
    }
    const rps = { isartor: [] as Array<number>, portkey: [] as Array<number> }
    for (let round = 0; round < rounds; round++) {
      const turn: ReadonlyArray<"isartor" | "portkey"> = round % 2 === 0
        ? ["isartor", "portkey"]
        : ["portkey", "isartor"]
      for (const name of turn) {
        const result = await load(tool, { ...targets[name], body, uniqueMarker: MARK, connections, durationSecs })
        rps[name].push(result.requestsPerSecond)
      }
    }
    return {
      runtime,
      portkeyVersion,
      isartorRps: spread(rps.isartor),
      portkeyRps: spread(rps.portkey),
      ratio: spread(rps.isartor.map((value, i) => value / rps.portkey[i]!))
    }
  } finally {
    for (const process of started) process.stop()
  }
}

const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
const results: Array<RuntimeFigures> = []
const peers: Array<PeerFigures> = []
const loadBefore = loadavg()
const header = `isartor overhead bench — ${tool}, ${connections} connections, ${durationSecs} s per run, ${rounds} ` +
  `rounds alternated, ${misses} sequential misses interleaved with direct calls; machine: ${availableParallelism()} ` +
  `cores (${cpus()[0]?.model ?? "unknown cpu"}), load average ${loadBefore.map((n) => n.toFixed(2)).join(" ")}, ` +
  `node ${process.version}; upstream latency 0 ms`
try {
  console.log(header)
  for (const runtime of runtimes) {
    process.stdout.write(`measuring ${runtime}…\n`)
    results.push(await measure(runtime, upstream.url))
  }
  for (const runtime of peerRuntimes) {
    process.stdout.write(`measuring ${runtime} against portkey…\n`)
    peers.push(await measurePeers(runtime, upstream.url))
  }
} finally {
  upstream.stop()
  sink.close()
}

const f = (n: number, digits = 2) => n.toFixed(digits)
const range = (s: Spread, digits = 2) => `${f(s.median, digits)} (${f(s.min, digits)}–${f(s.max, digits)})`
console.log(
  `\nexact hit (L1a) vs bare Hono (a 233-byte JSON; and the gateway's ${
    results[0]?.answerBytes ?? "?"
  }-byte answer with its headers), same runtime, POST /v1/chat/completions; medians of the rounds`
)
console.table(results.map((r) => ({
  runtime: `${r.runtime} ${r.version}`,
  "bare req/s": Math.round(median(r.rounds.map((x) => x.bare.requestsPerSecond))),
  "bare reading the body req/s": Math.round(median(r.rounds.map((x) => x.bareReadsBody.requestsPerSecond))),
  "L1a req/s": Math.round(median(r.rounds.map((x) => x.exactHit.requestsPerSecond))),
  "L1a p50/p99 ms": `${f(median(r.rounds.map((x) => x.exactHit.p50Ms)))} / ${f(r.exactHitP99Ms.median)}`,
  "ratio (min–max)": range(r.ratio),
  [`bare, same bytes req/s`]: Math.round(median(r.rounds.map((x) => x.bareSameBytes.requestsPerSecond))),
  "ratio to it (min–max)": range(r.ratioSameBytes),
  "monitoring on req/s": Math.round(median(r.rounds.map((x) => x.monitored.requestsPerSecond))),
  "on ÷ off (min–max)": range(r.monitoringRatio, 3),
  errors: r.rounds.reduce(
    (sum, x) =>
      sum + x.bare.errors + x.bareReadsBody.errors + x.bareSameBytes.errors + x.exactHit.errors + x.monitored.errors,
    0
  )
})))
console.log("miss path (L3, caches bypassed, upstream 0 ms), concurrency 1, interleaved: added = via gateway − direct")
console.table(results.map((r) => ({
  runtime: r.runtime,
  "direct p50/p99 ms": `${f(r.direct.p50Ms, 3)} / ${f(r.direct.p99Ms, 3)}`,
  "gateway p50/p99 ms": `${f(r.viaGateway.p50Ms, 3)} / ${f(r.viaGateway.p99Ms, 3)}`,
  "added p50 ms, per round (min–max)": range(r.addedP50Ms, 3)
})))
if (peers.length > 0) {
  console.log(`miss path req/s at c${connections}, a new prompt each, vs Portkey OSS (node), rounds alternated`)
  console.table(peers.map((p) => ({
    isartor: p.runtime,
    "isartor req/s": Math.round(p.isartorRps.median),
    [`portkey ${p.portkeyVersion} req/s`]: Math.round(p.portkeyRps.median),
    "ratio (min–max)": range(p.ratio)
  })))
}

const byRuntime = (runtime: RuntimeName) => results.find((r) => r.runtime === runtime)
const each = (pick: (r: RuntimeFigures) => string) =>
  (["node", "bun", "deno"] as const).map((runtime) => {
    const r = byRuntime(runtime)
    return r ? pick(r) : "—"
  }).join(" / ")
const bunPeer = peers.find((p) => p.runtime === "bun") ?? peers[0]
console.log("issue 17's figures (median of the rounds, min–max in brackets)")
console.table([
  {
    figure: "exact-hit req/s ÷ bare Hono, node / bun / deno (c16)",
    today: "0.62 / 0.43 / 0.24",
    goal: "≥ 0.6 on all; ≥ 0.8 on bun",
    measured: each((r) => range(r.ratio))
  },
  {
    figure: "  bare Hono reading each body ÷ bare Hono (the ceiling of a server that reads)",
    today: "—",
    goal: "(context)",
    measured: each((r) => range(r.bareReadsBodyRatio))
  },
  {
    figure: "  exact hit ÷ bare Hono reading each body",
    today: "—",
    goal: "(context)",
    measured: each((r) => range(r.ratioReadsBody))
  },
  {
    figure: "  the same, bare Hono sending the gateway's answer and headers",
    today: "—",
    goal: "(context)",
    measured: each((r) => `${range(r.ratioSameBytes)}`)
  },
  {
    figure: "exact-hit p99 at c16, bun (ms)",
    today: "≈ 3.2",
    goal: "≤ 1",
    measured: byRuntime("bun") ? range(byRuntime("bun")!.exactHitP99Ms) : "—"
  },
  {
    figure: "miss path, caches bypassed: added p50 at c1, bun / node (ms)",
    today: "0.55–1.7 / 4.8",
    goal: "≤ 0.3 / ≤ 1",
    measured: ["bun", "node"].map((name) => {
      const r = byRuntime(name as RuntimeName)
      return r ? range(r.addedP50Ms, 3) : "—"
    }).join(" / ")
  },
  {
    figure: `miss path req/s ÷ Portkey OSS${bunPeer ? ` ${bunPeer.portkeyVersion} (${bunPeer.runtime})` : ""}`,
    today: "≈ 7× (bun)",
    goal: "≥ 10×",
    measured: bunPeer ? `${range(bunPeer.ratio)}×` : "— (--peers none)"
  },
  {
    figure: "exact-hit req/s, monitoring on ÷ off, node / bun / deno",
    today: "—",
    goal: "≥ 0.95",
    measured: each((r) => range(r.monitoringRatio, 3))
  }
])

if (values.agent !== "none") {
  await runAgentBench({
    runtimes,
    rounds,
    sizes: [64, 164, 400],
    shapes: ["claude", "codex"],
    requests: smoke ? 5 : 40,
    durationSecs: smoke ? 1 : 3,
    connections,
    peers: peerRuntimes.length > 0,
    tool
  })
}

await writeResults("overhead", {
  tool,
  connections,
  durationSecs,
  rounds,
  misses,
  cores: availableParallelism(),
  loadAverage: { before: loadBefore, after: loadavg() },
  results,
  peers
})
