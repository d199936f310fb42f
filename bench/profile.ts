// CPU profiles of the gateway's hot paths, per runtime, with each runtime's own profiler (`--cpu-prof` on Node, Bun
// and Deno): exact hits under load, and misses with the caches bypassed. Writes the .cpuprofile and a summary of the
// top self-time functions under bench/results/profiles/. Mode `agent` streams new Claude-Code-shaped requests of
// `--size` KB at c16 through a gateway whose provider is Anthropic (bench/agent.ts's upstream and bodies), `agent1`
// the same one by one. Prints figures; asserts nothing.
// Usage: node --import tsx bench/profile.ts [--runtimes node,bun,deno] [--modes hit,miss,missload,l1bload,agent,agent1]
//                                          [--duration 8] [--misses 2000] [--label before] [--size 164]
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import { projectRoot, runtimeCommand, type RuntimeName, startProcess } from "../test/support/processes.ts"
import { agentRequest } from "./agentBodies.ts"
import { load, sequentialLatency, wrkAvailable } from "./load.ts"

const { values } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node,bun,deno" },
    duration: { type: "string", default: "8" },
    misses: { type: "string", default: "2000" },
    label: { type: "string", default: "now" },
    top: { type: "string", default: "25" },
    modes: { type: "string", default: "hit,miss" },
    size: { type: "string", default: "164" }
  }
})
const tool = (await wrkAvailable()) ? "wrk" : "autocannon"
const outDir = `${projectRoot}bench/results/profiles/`
const chatBody = (content: string) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content }]
  })
const hitBody = chatBody("What is the capital of France?")
const bypass = { "cache-control": "no-cache, no-store" }

interface ProfileNode {
  readonly id: number
  readonly callFrame: { functionName: string; url: string; lineNumber: number }
  readonly hitCount?: number
  readonly children?: Array<number>
}
interface CpuProfile {
  readonly nodes: Array<ProfileNode>
  readonly samples?: Array<number>
  readonly timeDeltas?: Array<number>
}

/** A sample this long after the one before it is a pause in sampling, not a frame's work (see `summarise`). */
const SAMPLING_GAP_MICROS = 100_000

/** Self time per function (name, file, line), from the samples' time deltas when present, else hit counts. */
const summarise = (profile: CpuProfile, top: number): string => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  // Bun's profiler writes no idle samples: the time the process sat idle lands, as one long gap, on whatever frame
  // was sampled before it. A gap far over the sampling interval is counted as idle, not as that frame's work.
  let gaps = 0
  if (profile.samples && profile.timeDeltas) {
    profile.samples.forEach((id, index) => {
      const delta = profile.timeDeltas![index + 1] ?? 0
      if (delta > SAMPLING_GAP_MICROS) gaps += delta
      else self.set(id, (self.get(id) ?? 0) + delta)
    })
  } else for (const node of profile.nodes) self.set(node.id, (node.hitCount ?? 0) * 1000)
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let total = 0
  for (const [id, micros] of self) {
    const frame = byId.get(id)?.callFrame
    if (!frame) continue
    const file = frame.url.replace(/^file:\/\//, "").replace(projectRoot, "").replace(/^.*node_modules\//, "~/")
    const name = `${frame.functionName || "(anonymous)"} ${file}${file ? `:${frame.lineNumber + 1}` : ""}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
    const group = file === "" ? `(native) ${frame.functionName}` : file.startsWith("~/")
      ? file.split("/").slice(0, file.startsWith("~/@") ? 3 : 2).join("/")
      : file.replace(/:\d+$/, "")
    byFile.set(group, (byFile.get(group) ?? 0) + micros)
    total += micros
  }
  if (gaps > 0) byFunction.set("(idle: sampling gaps)", gaps)
  total += gaps
  const idle = [...byFunction].filter(([name]) => /^\((idle|program|garbage collector)/.test(name))
  const busy = total - idle.reduce((sum, [, micros]) => sum + micros, 0)
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)
  return [
    `total sampled ${(total / 1e6).toFixed(2)} s; ${
      idle.map(([n, m]) => `${n.trim()} ${(m / 1e6).toFixed(2)} s`).join(", ")
    }`,
    "",
    "| self ms | % of busy | function |",
    "|---:|---:|---|",
    ...rows.map(([name, micros]) =>
      `| ${(micros / 1000).toFixed(0)} | ${(100 * micros / busy).toFixed(1)} | ${name} |`
    ),
    "",
    "| self ms | % of busy | file or package |",
    "|---:|---:|---|",
    ...[...byFile].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, micros]) =>
      `| ${(micros / 1000).toFixed(0)} | ${(100 * micros / busy).toFixed(1)} | ${name} |`
    )
  ].join("\n")
}

const profilerFlags = (runtime: RuntimeName, dir: string): Array<string> => {
  const command = runtimeCommand(runtime, "runtimes/x.ts")
  if (runtime === "node") return [command[0]!, `--cpu-prof`, `--cpu-prof-dir=${dir}`, ...command.slice(1, -1)]
  if (runtime === "bun") return [command[0]!, "--cpu-prof", `--cpu-prof-dir=${dir}`]
  return [command[0]!, "run", `--cpu-prof-dir=${dir}`, ...command.slice(2, -1)]
}

type Mode = "hit" | "miss" | "missload" | "l1bload" | "agent" | "agent1"
const isAgent = (mode: Mode) => mode === "agent" || mode === "agent1"

/** New Claude-Code-shaped requests, streamed, at c16 (`agent`) or one by one (`agent1`). */
const agentLoad = async (mode: Mode, gatewayUrl: string) => {
  const request = agentRequest("claude", Number(values.size), "__UNIQUE__")
  const url = `${gatewayUrl}${request.path}`
  const headers = { ...request.headers, "x-api-key": "sk-bench-0000000000000000" }
  if (mode === "agent1") {
    const run = Date.now()
    const body = (i: number) => request.body.replace("__UNIQUE__", `${run}-${i}`)
    await sequentialLatency(url, 50, body, headers)
    const latency = await sequentialLatency(url, Number(values.misses), (i) => body(i + 50), headers)
    return `p50 ${latency.p50Ms.toFixed(3)} ms under the profiler (c1, ${values.size} KB Claude Code bodies)`
  }
  const options = { url, body: request.body, uniqueMarker: "__UNIQUE__", headers, connections: 16 }
  await load(tool, { ...options, durationSecs: 2 })
  const result = await load(tool, { ...options, durationSecs: Number(values.duration) })
  return `${
    Math.round(result.requestsPerSecond)
  } req/s under the profiler (c16, ${tool}, ${values.size} KB Claude Code bodies)`
}

const profileOne = async (runtime: RuntimeName, mode: Mode, upstreamUrl: string) => {
  const dir = `${outDir}tmp-${runtime}-${mode}/`
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const gateway = await startProcess([...profilerFlags(runtime, dir), `runtimes/${runtime}.ts`], {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstreamUrl,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__L3_MAX_RETRIES: "0",
    ...(isAgent(mode) ? { ISARTOR__LLM_PROVIDER: "anthropic" } : {}),
    // As bench:l1b: room for every new prompt of a run, so l1bload measures inserts, not evictions.
    ISARTOR__CACHE_MAX_CAPACITY: "200000"
  })
  const url = `${gateway.url}/v1/chat/completions`
  let figure: string
  if (isAgent(mode)) figure = await agentLoad(mode, gateway.url)
  else if (mode === "hit") {
    await sequentialLatency(url, 1, () => hitBody)
    await load(tool, { url, body: hitBody, connections: 16, durationSecs: 2 })
    const result = await load(tool, { url, body: hitBody, connections: 16, durationSecs: Number(values.duration) })
    figure = `${Math.round(result.requestsPerSecond)} req/s under the profiler (c16, ${tool})`
  } else if (mode === "missload" || mode === "l1bload") {
    // New prompts at c16: with the caches bypassed, or (l1bload) through both caches, each a miss L1b then stores.
    const body = chatBody(`How do I manage the invoices of team __UNIQUE__ in the dashboard (load ${Date.now()})?`)
    const headers = mode === "missload" ? bypass : {}
    const options = { url, body, uniqueMarker: "__UNIQUE__", headers, connections: 16 }
    await load(tool, { ...options, durationSecs: 2 })
    const result = await load(tool, { ...options, durationSecs: Number(values.duration) })
    figure = `${Math.round(result.requestsPerSecond)} req/s under the profiler (c16, ${tool}, ${
      mode === "missload" ? "caches bypassed" : "new prompts through L1a and L1b"
    })`
  } else {
    const run = Date.now()
    const latency = await sequentialLatency(url, Number(values.misses), (i) => chatBody(`miss ${run} ${i}`), bypass)
    figure = `p50 ${latency.p50Ms.toFixed(3)} ms under the profiler (c1, caches bypassed)`
  }
  // A graceful stop: each runtime writes its profile on exit.
  const exited = new Promise((resolve) => gateway.child.once("exit", resolve))
  gateway.child.kill("SIGTERM")
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
  gateway.stop()
  const files = (await readdir(dir)).filter((file) => file.endsWith(".cpuprofile"))
  // The main thread's profile is the one that served requests (Node writes one per worker too).
  let best: { file: string; profile: CpuProfile; size: number } | undefined
  for (const file of files) {
    const profile = JSON.parse(await readFile(dir + file, "utf8")) as CpuProfile
    const served = profile.nodes.some((node) => node.callFrame.url.includes("core/http/app.ts"))
    const size = (served ? 1e9 : 0) + (profile.samples?.length ?? profile.nodes.length)
    if (!best || size > best.size) best = { file, profile, size }
  }
  if (!best) throw new Error(`${runtime} wrote no profile in ${dir}`)
  const name = `${values.label}-${runtime}-${mode}`
  await rename(dir + best.file, `${outDir}${name}.cpuprofile`)
  await rm(dir, { recursive: true, force: true })
  const summary = `## ${name}: ${figure}\n\n${summarise(best.profile, Number(values.top))}\n`
  await writeFile(`${outDir}${name}.md`, summary)
  console.log(summary)
}

await mkdir(outDir, { recursive: true })
const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
const agentUpstream = await startProcess([process.execPath, "--import", "tsx", "bench/agentUpstream.ts"], {})
try {
  for (const runtime of values.runtimes.split(",") as Array<RuntimeName>) {
    for (const mode of values.modes.split(",") as Array<Mode>) {
      await profileOne(runtime, mode, isAgent(mode) ? agentUpstream.url : upstream.url)
    }
  }
} finally {
  upstream.stop()
  agentUpstream.stop()
}
