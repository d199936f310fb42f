// L1b's cost through the real gateway process (its default: the learned decision over the shipped fast encoder),
// against the same gateway with both caches bypassed (`Cache-Control: no-cache, no-store`), on one runtime:
//   - miss-path throughput with new prompts at 16 connections, L1b on ÷ bypassed;
//   - added p50 on a miss at one connection (L1b on − bypassed, alternating rounds);
//   - the p50 of an L1b hit on a reworded question at one connection;
//   - the first request after a fresh install: a gateway started with an empty cache directory and home, how long
//     from "listening" until a reworded question is an L1b hit.
// With each throughput run, the gateway's CPU time per request (all its threads, from /proc on Linux): on a shared
// machine the req/s ratio follows the neighbours' load, the CPU per request far less.
// Prints figures; asserts nothing. Usage: npm run bench:l1b -- [--runtime bun|node|deno] [--duration 10]
//                                                            [--requests 300]
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, sequentialLatency, wrkAvailable } from "./load.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "bun" },
    duration: { type: "string", default: "10" },
    requests: { type: "string", default: "300" }
  }
})
const runtime = values.runtime as RuntimeName
const durationSecs = Number(values.duration)
const requests = Number(values.requests)
const tool = (await wrkAvailable()) ? "wrk" : "autocannon"
const BYPASS = { "cache-control": "no-cache, no-store" }
const body = (content: string) => JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
const topics = ["invoices", "passwords", "webhooks", "exports", "the billing address", "two-factor login", "API keys"]
const question = (i: number) => `How do I manage ${topics[i % topics.length]} for team ${i} in the dashboard?`

/** A process's CPU time so far (user + system, all threads) in ms; `undefined` without /proc. */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
  } catch {
    return 100
  }
})()
const cpuMsOf = (pid: number | undefined): number | undefined => {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 1000 / ticksPerSecond
  } catch {
    return undefined
  }
}

const started: Array<StartedProcess> = []
const stopAll = () => started.forEach((process) => process.stop())
process.once("exit", stopAll)
try {
  const upstream = await startProcess(["node", "--import", "tsx", "bench/upstream.ts", "0"], {})
  started.push(upstream)
  const home = await mkdtemp(join(tmpdir(), "isartor-l1b-bench-"))
  const launched = performance.now()
  const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    HOME: home,
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__CACHE_MAX_CAPACITY: "200000"
  })
  started.push(gateway)
  const readyMs = performance.now() - launched
  const chat = `${gateway.url}/v1/chat/completions`
  const post = (content: string, headers: Record<string, string> = {}) =>
    fetch(chat, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: body(content) })

  // First request after a fresh install: from "listening", a question and its rewording.
  const firstStarted = performance.now()
  await (await post("How do I reset the password of my account?")).arrayBuffer()
  const reworded = await post("how can i reset the password of my account")
  await reworded.arrayBuffer()
  const firstHitMs = performance.now() - firstStarted
  const firstLayer = reworded.headers.get("x-isartor-layer")

  // Warm both paths.
  const run = Date.now()
  await sequentialLatency(chat, 100, (i) => body(`warm ${run} ${question(i)}`))
  await sequentialLatency(chat, 100, (i) => body(`warm bypass ${run} ${question(i)}`), BYPASS)

  // Added p50 on a miss, c1: alternating rounds of new prompts, L1b on and bypassed.
  const on: Array<number> = []
  const off: Array<number> = []
  for (let round = 0; round < 5; round++) {
    on.push(
      (await sequentialLatency(chat, requests / 5, (i) => body(`on ${run} ${round} ${question(i)}`))).p50Ms
    )
    off.push(
      (await sequentialLatency(chat, requests / 5, (i) => body(`off ${run} ${round} ${question(i)}`), BYPASS)).p50Ms
    )
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

  // Reworded hits, c1: questions cached, then asked in other words.
  const cachedCount = Math.min(requests, 200)
  for (let i = 0; i < cachedCount; i++) {
    await (await post(`Where can I find the ${i}th invoice of my company?`)).arrayBuffer()
  }
  const hitSamples: Array<number> = []
  let hits = 0
  for (let i = 0; i < cachedCount; i++) {
    const at = performance.now()
    const response = await post(`where can i find the ${i}th invoice of my company`)
    await response.arrayBuffer()
    hitSamples.push(performance.now() - at)
    if (response.headers.get("x-isartor-layer") === "l1b") hits++
  }
  hitSamples.sort((a, b) => a - b)

  // Miss-path throughput, c16: new prompts, L1b on then bypassed (then on again, to see drift).
  const marker = "__UNIQUE__"
  const miss = async (headers: Record<string, string>) => {
    const cpuBefore = cpuMsOf(gateway.child.pid)
    const result = await load(tool, {
      url: chat,
      body: body(`How do I manage ${marker} in the dashboard?`),
      uniqueMarker: marker,
      headers,
      connections: 16,
      durationSecs
    })
    const cpuAfter = cpuMsOf(gateway.child.pid)
    const cpuMsPerRequest = cpuBefore === undefined || cpuAfter === undefined
      ? Number.NaN
      : (cpuAfter - cpuBefore) / (result.requestsPerSecond * durationSecs)
    return { ...result, cpuMsPerRequest }
  }
  const l1bOn = await miss({})
  const bypassed = await miss(BYPASS)
  const l1bOnAgain = await miss({})

  const figures = {
    runtime,
    cores: availableParallelism(),
    tool,
    ready_after_launch_ms: Math.round(readyMs),
    first_reworded_hit: { ms_after_listening: Math.round(firstHitMs), layer: firstLayer },
    miss_added_p50_ms_c1: median(on) - median(off),
    miss_p50_ms_c1: { l1b_on: median(on), bypassed: median(off) },
    reworded_hit_p50_ms_c1: hitSamples[Math.floor(hitSamples.length / 2)]!,
    reworded_hits: `${hits}/${cachedCount}`,
    miss_rps_c16: {
      l1b_on: Math.round((l1bOn.requestsPerSecond + l1bOnAgain.requestsPerSecond) / 2),
      bypassed: Math.round(bypassed.requestsPerSecond),
      ratio: Number(
        ((l1bOn.requestsPerSecond + l1bOnAgain.requestsPerSecond) / 2 / bypassed.requestsPerSecond).toFixed(3)
      )
    },
    // CPU the gateway spent per request (all threads): bypassed ÷ L1b on is the req/s ratio a gateway with a core of
    // its own would reach.
    miss_cpu_ms_per_request_c16: {
      l1b_on: Number(((l1bOn.cpuMsPerRequest + l1bOnAgain.cpuMsPerRequest) / 2).toFixed(4)),
      bypassed: Number(bypassed.cpuMsPerRequest.toFixed(4)),
      ratio: Number(
        (bypassed.cpuMsPerRequest / ((l1bOn.cpuMsPerRequest + l1bOnAgain.cpuMsPerRequest) / 2)).toFixed(3)
      )
    },
    load_average: loadavg()[0]
  }
  console.log(
    `L1b cost on ${runtime} (${availableParallelism()} cores, ${tool}, load ${
      loadavg()[0]!.toFixed(1)
    }); the gateway's default L1b`
  )
  console.table([
    {
      figure: "miss-path req/s, L1b on ÷ bypassed (c16, new prompts)",
      value: figures.miss_rps_c16.ratio,
      detail: `${figures.miss_rps_c16.l1b_on} / ${figures.miss_rps_c16.bypassed}`
    },
    {
      figure: "gateway CPU per miss, bypassed ÷ L1b on (c16)",
      value: figures.miss_cpu_ms_per_request_c16.ratio,
      detail: `${figures.miss_cpu_ms_per_request_c16.bypassed} / ${figures.miss_cpu_ms_per_request_c16.l1b_on} ms`
    },
    {
      figure: "added p50 on a miss, L1b on − bypassed (c1)",
      value: figures.miss_added_p50_ms_c1.toFixed(3),
      detail: `${median(on).toFixed(3)} − ${median(off).toFixed(3)} ms`
    },
    {
      figure: "L1b hit p50 over HTTP, reworded (c1)",
      value: figures.reworded_hit_p50_ms_c1.toFixed(3),
      detail: `${figures.reworded_hits} served from L1b`
    },
    {
      figure: "fresh install: listening → reworded hit",
      value: figures.first_reworded_hit.ms_after_listening,
      detail: `ms; ${firstLayer}; listening ${figures.ready_after_launch_ms} ms after launch`
    }
  ])
  await writeResults(`l1b-${runtime}`, figures)
  await rm(home, { recursive: true, force: true })
} finally {
  stopAll()
}
