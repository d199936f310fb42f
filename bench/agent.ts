// The agent row: coding agents' requests — Claude-Code- and Codex-shaped bodies of 64, 164 and 400 KB (see
// agentBodies.ts), streamed, each new — sent (a) straight to the upstream, (b) through a bare Hono proxy on the same
// runtime (bareProxy.ts: the floor of any proxy on this stack), (c) through the gateway and (d) through Portkey's OSS
// gateway, all to one loopback upstream in its own process (agentUpstream.ts). Figures: the time to first byte each
// adds at c1 (requests interleaved one by one, so all see the same machine) and req/s at c16 (targets alternated
// round by round), as medians of the rounds with their min–max. Prints figures; asserts nothing.
// Usage: node --import tsx bench/agent.ts [--runtimes node,bun,deno] [--rounds 3] [--sizes 64,164,400]
//          [--shapes claude,codex] [--requests 60] [--duration 4] [--connections 16] [--peers portkey|none] [--smoke]
//          [--baseline DIR]   (DIR: another checkout of the gateway, measured alongside as "before")
import { readFileSync } from "node:fs"
import { availableParallelism, cpus, loadavg } from "node:os"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { agentRequest, type AgentShape } from "./agentBodies.ts"
import { load, type LoadTool, wrkAvailable } from "./load.ts"
import { portkeyVersion } from "./portkey.ts"
import { writeResults } from "./results.ts"

const KEY = "sk-bench-0000000000000000"
const MARK = "__UNIQUE__"
type Target = "direct" | "bare" | "gateway" | "before" | "portkey"

export interface AgentOptions {
  readonly runtimes: ReadonlyArray<RuntimeName>
  readonly rounds: number
  readonly sizes: ReadonlyArray<number>
  readonly shapes: ReadonlyArray<AgentShape>
  /** Sequential requests per target per round, for the c1 time to first byte. */
  readonly requests: number
  readonly durationSecs: number
  readonly connections: number
  readonly peers: boolean
  readonly tool: LoadTool
  /** Another checkout of the gateway (a directory), measured in the same rounds as the target `before`. */
  readonly baseline?: string | undefined
}

interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}
const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
const spread = (values: ReadonlyArray<number>): Spread => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values)
})

/** Starts the upstream every target forwards to. */
export const startAgentUpstream = () =>
  startProcess([process.execPath, "--import", "tsx", "bench/agentUpstream.ts"], {})

/** A gateway on `runtime` whose primary provider speaks the shape's API, at the agent upstream. */
export const startAgentGateway = (runtime: RuntimeName, shape: AgentShape, upstreamUrl: string, root = ".") =>
  startProcess(runtimeCommand(runtime, `${root}/runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__LLM_PROVIDER: shape === "claude" ? "anthropic" : "openai",
    ISARTOR__EXTERNAL_LLM_URL: shape === "claude" ? upstreamUrl : `${upstreamUrl}/v1`,
    ISARTOR__EXTERNAL_LLM_API_KEY: KEY,
    ISARTOR__L3_MAX_RETRIES: "0"
  })

const authFor = (shape: AgentShape): Record<string, string> =>
  shape === "claude" ? { "x-api-key": KEY } : { authorization: `Bearer ${KEY}` }

/** One streamed POST: ms to the first byte of the answer's body, after which the rest is read. */
const firstByteMs = async (url: string, body: string, headers: Record<string, string>) => {
  const started = performance.now()
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body
  })
  const reader = response.body!.getReader()
  const first = await reader.read()
  const elapsed = performance.now() - started
  if (response.status !== 200 || first.done) throw new Error(`${url} answered ${response.status}`)
  while (!(await reader.read()).done) { /* drain */ }
  return elapsed
}

/**
 * Opens `count` streams at once through `url` with the upstream holding each open after its first event, samples
 * the resident memory of `pid` while they are all open, then releases them. For the memory bench (bench/memory.ts):
 * returns the process's resident set before and at its highest with the streams open, in MB (Linux /proc).
 */
export const peakRssWithStreams = async (options: {
  readonly url: string
  readonly upstreamUrl: string
  readonly pid: number
  readonly shape?: AgentShape
  readonly sizeKb?: number
  readonly count?: number
}): Promise<{ readonly idleMb: number; readonly peakMb: number; readonly opened: number }> => {
  const shape = options.shape ?? "claude"
  const request = agentRequest(shape, options.sizeKb ?? 164, MARK)
  const rss = () => {
    const status = readFileSync(`/proc/${options.pid}/status`, "utf8")
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
  }
  const idleMb = rss()
  await fetch(`${options.upstreamUrl}/bench/hold`, { method: "POST", body: "{}" })
  let peakMb = idleMb
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, rss())), 20)
  const run = Date.now()
  const firstBytes: Array<Promise<ReadableStreamDefaultReader<Uint8Array>>> = []
  for (let i = 0; i < (options.count ?? 200); i++) {
    firstBytes.push(
      fetch(options.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...request.headers, ...authFor(shape) },
        body: request.body.replace(MARK, `${run}-${i}`)
      }).then(async (response) => {
        const reader = response.body!.getReader()
        await reader.read()
        return reader
      })
    )
  }
  const readers = await Promise.all(firstBytes)
  peakMb = Math.max(peakMb, rss())
  await fetch(`${options.upstreamUrl}/bench/release`, { method: "POST", body: "{}" })
  await Promise.all(readers.map(async (reader) => {
    while (!(await reader.read()).done) { /* drain */ }
  }))
  clearInterval(sampler)
  return { idleMb, peakMb, opened: readers.length }
}

interface Row {
  readonly runtime: RuntimeName
  readonly shape: AgentShape
  readonly sizeKb: number
  /** Per target, the c1 TTFB p50 of each round and the c16 req/s of each round. */
  readonly ttfbP50: Partial<Record<Target, Array<number>>>
  readonly rps: Partial<Record<Target, Array<number>>>
  /** CPU time (user + system) the target's process spent per request during the c16 runs, per round. */
  readonly cpuMs: Partial<Record<Target, Array<number>>>
  readonly errors: number
}

/** CPU time a process has used, in ms (Linux /proc; clock ticks of 10 ms): a figure the machine's load bends less. */
const cpuMsOf = (pid: number | undefined) => {
  if (pid === undefined) return Number.NaN
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

const measureOne = async (
  options: AgentOptions,
  runtime: RuntimeName,
  shape: AgentShape,
  sizeKb: number,
  urls: Partial<Record<Target, string>>,
  pids: Partial<Record<Target, number>>
): Promise<Row> => {
  const request = agentRequest(shape, sizeKb, MARK)
  const names = Object.keys(urls) as Array<Target>
  const headers = (target: Target): Record<string, string> => ({
    ...request.headers,
    ...authFor(shape),
    ...(target === "portkey"
      ? {
        "x-portkey-provider": shape === "claude" ? "anthropic" : "openai",
        "x-portkey-custom-host": `${urls.direct!.replace(/\/v1\/.*$/, "")}/v1`
      }
      : {})
  })
  const run = Date.now()
  let counter = 0
  const fresh = () => request.body.replace(MARK, `${run}-${++counter}`)
  const row: Row = { runtime, shape, sizeKb, ttfbP50: {}, rps: {}, cpuMs: {}, errors: 0 }
  for (const name of names) {
    for (let i = 0; i < 5; i++) await firstByteMs(urls[name]!, fresh(), headers(name))
    await load(options.tool, {
      url: urls[name]!,
      body: request.body,
      uniqueMarker: MARK,
      headers: headers(name),
      connections: options.connections,
      durationSecs: 1
    })
  }
  for (let round = 0; round < options.rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]!)
    const samples = Object.fromEntries(names.map((name) => [name, [] as Array<number>])) as Record<
      Target,
      Array<number>
    >
    for (let i = 0; i < options.requests; i++) {
      for (const name of order) samples[name].push(await firstByteMs(urls[name]!, fresh(), headers(name)))
    }
    for (const name of order) {
      ;(row.ttfbP50[name] ??= []).push(median(samples[name]))
      const cpuBefore = cpuMsOf(pids[name])
      const result = await load(options.tool, {
        url: urls[name]!,
        body: request.body,
        uniqueMarker: MARK,
        headers: headers(name),
        connections: options.connections,
        durationSecs: options.durationSecs
      })
      ;(row.rps[name] ??= []).push(result.requestsPerSecond)
      ;(row.cpuMs[name] ??= []).push(
        (cpuMsOf(pids[name]) - cpuBefore) / (result.requestsPerSecond * options.durationSecs)
      )
      ;(row as { errors: number }).errors += result.errors
    }
  }
  return row
}

/**
 * Portkey runs on Bun here: on Node its streamed answers fail ("TypeError: immutable" — it deletes headers of the
 * Response `fetch` returned, which undici forbids), and every request of this row is streamed.
 */
const startPortkeyPeer = async (): Promise<StartedProcess> => {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const started = await startProcess(
    [
      runtimeCommand("bun", "")[0]!,
      "node_modules/@portkey-ai/gateway/build/start-server.js",
      `--port=${port}`,
      "--headless"
    ],
    {},
    60_000,
    /(Ready for connections)/
  )
  return { ...started, url: `http://127.0.0.1:${port}` }
}

/** Runs the agent row; returns its rows (also printed). */
export const runAgentBench = async (options: AgentOptions) => {
  const started: Array<StartedProcess> = []
  const rows: Array<Row> = []
  const loadBefore = loadavg()
  try {
    const upstream = await startAgentUpstream()
    started.push(upstream)
    const portkey = options.peers ? await startPortkeyPeer() : undefined
    if (portkey) started.push(portkey)
    for (const runtime of options.runtimes) {
      const bare = await startProcess([...runtimeCommand(runtime, "bench/bareProxy.ts"), upstream.url], {})
      started.push(bare)
      for (const shape of options.shapes) {
        process.stdout.write(`agent: measuring ${runtime} ${shape}…\n`)
        const gateway = await startAgentGateway(runtime, shape, upstream.url)
        started.push(gateway)
        const before = options.baseline === undefined
          ? undefined
          : await startAgentGateway(runtime, shape, upstream.url, options.baseline)
        if (before) started.push(before)
        const path = shape === "claude" ? "/v1/messages" : "/v1/responses"
        const urls: Partial<Record<Target, string>> = {
          direct: `${upstream.url}${path}`,
          bare: `${bare.url}${path}`,
          gateway: `${gateway.url}${path}`,
          ...(before ? { before: `${before.url}${path}` } : {}),
          ...(portkey ? { portkey: `${portkey.url}${path}` } : {})
        }
        const pids: Partial<Record<Target, number>> = {
          bare: bare.child.pid,
          gateway: gateway.child.pid,
          before: before?.child.pid,
          portkey: portkey?.child.pid
        }
        for (const sizeKb of options.sizes) rows.push(await measureOne(options, runtime, shape, sizeKb, urls, pids))
        gateway.stop()
        before?.stop()
      }
    }
  } finally {
    for (const process of started) process.stop()
  }
  const loadAfter = loadavg()
  print(options, rows, loadBefore, loadAfter)
  await writeResults("agent", {
    options,
    cores: availableParallelism(),
    loadAverage: { before: loadBefore, after: loadAfter },
    portkeyVersion: options.peers ? await portkeyVersion() : undefined,
    rows
  })
  return rows
}

const f = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "—"
const range = (s: Spread, digits = 2) => `${f(s.median, digits)} (${f(s.min, digits)}–${f(s.max, digits)})`
const per = (a: Array<number> | undefined, b: Array<number> | undefined, op: (x: number, y: number) => number) =>
  a && b ? spread(a.map((x, i) => op(x, b[i]!))) : undefined

const print = (options: AgentOptions, rows: ReadonlyArray<Row>, before: Array<number>, after: Array<number>) => {
  console.log(
    `\nagent row — ${options.tool}, c1: ${options.requests} streamed requests per target per round interleaved; ` +
      `c${options.connections}: ${options.durationSecs} s per target; ${options.rounds} rounds alternated; ` +
      `${availableParallelism()} cores (${cpus()[0]?.model ?? "cpu"}); load average before ${
        before.map((n) => n.toFixed(2)).join(" ")
      }, after ${after.map((n) => n.toFixed(2)).join(" ")}`
  )
  console.table(rows.map((row) => {
    const added = (target: Target) => per(row.ttfbP50[target], row.ttfbP50.direct, (x, y) => x - y)
    const ratio = (a: Target, b: Target) => per(row.rps[a], row.rps[b], (x, y) => x / y)
    const show = (s: Spread | undefined, digits = 2) => (s ? range(s, digits) : "—")
    return {
      runtime: row.runtime,
      shape: row.shape,
      KB: row.sizeKb,
      "direct TTFB p50 ms": f(median(row.ttfbP50.direct ?? []), 3),
      "added TTFB p50 ms: bare": show(added("bare"), 3),
      "gateway": show(added("gateway"), 3),
      "portkey": show(added("portkey"), 3),
      ...(row.ttfbP50.before ? { "before": show(added("before"), 3) } : {}),
      [`c${options.connections} req/s direct`]: Math.round(median(row.rps.direct ?? [])),
      "bare": Math.round(median(row.rps.bare ?? [])),
      "gateway ": Math.round(median(row.rps.gateway ?? [])),
      "portkey ": Math.round(median(row.rps.portkey ?? [])),
      ...(row.rps.before
        ? { "before ": Math.round(median(row.rps.before)), "before ÷ bare": show(ratio("before", "bare")) }
        : {}),
      "gateway ÷ bare": show(ratio("gateway", "bare")),
      "gateway ÷ portkey": show(ratio("gateway", "portkey")),
      "CPU ms/request at c16: bare": f(median(row.cpuMs.bare ?? []), 3),
      "gateway  ": f(median(row.cpuMs.gateway ?? []), 3),
      ...(row.cpuMs.before ? { "before  ": f(median(row.cpuMs.before), 3) } : {}),
      "portkey  ": f(median(row.cpuMs.portkey ?? []), 3),
      errors: row.errors
    }
  }))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values } = parseArgs({
    options: {
      runtimes: { type: "string", default: "node,bun,deno" },
      rounds: { type: "string", default: "3" },
      sizes: { type: "string", default: "64,164,400" },
      shapes: { type: "string", default: "claude,codex" },
      requests: { type: "string", default: "60" },
      duration: { type: "string", default: "4" },
      connections: { type: "string", default: "16" },
      peers: { type: "string", default: "portkey" },
      tool: { type: "string" },
      smoke: { type: "boolean", default: false },
      baseline: { type: "string" }
    }
  })
  await runAgentBench({
    runtimes: values.runtimes.split(",") as Array<RuntimeName>,
    rounds: values.smoke ? 1 : Number(values.rounds),
    sizes: values.sizes.split(",").map(Number),
    shapes: values.shapes.split(",") as Array<AgentShape>,
    requests: values.smoke ? 5 : Number(values.requests),
    durationSecs: values.smoke ? 1 : Number(values.duration),
    connections: Number(values.connections),
    peers: values.peers !== "none",
    tool: (values.tool as LoadTool | undefined) ?? ((await wrkAvailable()) ? "wrk" : "autocannon"),
    baseline: values.baseline
  })
}
