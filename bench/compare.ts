// Before and after in the same run: the gateway of another commit (`--base`, extracted with `git archive` into a
// temporary folder that borrows this checkout's node_modules) beside the gateway of the work tree, on one runtime
// at a time, with the exact-hit throughput of `npm run bench` (wrk, c16) and the p50 of misses one at a time. The
// order is alternated every round and each figure is a median with its quartiles and range: a restructure must not
// cost the hot path, and on a shared machine only the spread of many short rounds says whether it did. Prints
// figures; asserts nothing.
// Usage: node --import tsx bench/compare.ts --base <commit> [--runtimes node,bun] [--rounds 8] [--duration 3]
//        [--connections 16] [--misses 200]
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, sequentialLatency, wrkAvailable } from "./load.ts"
import { loads, spread } from "./stats.ts"

const { values } = parseArgs({
  options: {
    base: { type: "string" },
    runtimes: { type: "string", default: "node,bun" },
    rounds: { type: "string", default: "8" },
    duration: { type: "string", default: "3" },
    connections: { type: "string", default: "16" },
    misses: { type: "string", default: "200" }
  }
})
if (values.base === undefined) throw new Error("name the commit to compare with: --base <commit>")
const tool = (await wrkAvailable()) ? "wrk" : "autocannon"
const body = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "What is the capital of France?" }]
})
const root = resolve(import.meta.dirname, "..")

/** The base commit's tree, outside the repository, with this checkout's dependencies. */
const extract = (commit: string) => {
  const folder = mkdtempSync(join(tmpdir(), "isartor-compare-"))
  execFileSync("sh", ["-c", `git archive ${JSON.stringify(commit)} | tar -x -C ${JSON.stringify(folder)}`], {
    cwd: root
  })
  symlinkSync(join(root, "node_modules"), join(folder, "node_modules"))
  return folder
}

const compare = async (runtime: RuntimeName, baseTree: string) => {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
  const started: Array<StartedProcess> = [upstream]
  try {
    const gateway = (tree: string) =>
      startProcess(runtimeCommand(runtime, join(tree, `runtimes/${runtime}.ts`)), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__EXTERNAL_LLM_URL: upstream.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
        ISARTOR__L3_MAX_RETRIES: "0",
        ISARTOR__CACHE_MODE: "exact"
      })
    const base = await gateway(baseTree)
    const head = await gateway(root)
    started.push(base, head)
    const url = (server: StartedProcess) => `${server.url}/v1/chat/completions`
    const connections = Number(values.connections)
    for (const server of [base, head]) await load(tool, { url: url(server), body, connections, durationSecs: 2 })
    const ratios: Array<number> = []
    const missAdded: Array<number> = []
    const loadBefore = loads()
    for (let round = 0; round < Number(values.rounds); round++) {
      const order = round % 2 === 0 ? [head, base] : [base, head]
      const hits = new Map<StartedProcess, number>()
      const misses = new Map<StartedProcess, number>()
      for (const server of order) {
        await load(tool, { url: url(server), body, connections, durationSecs: 1 })
        const result = await load(tool, { url: url(server), body, connections, durationSecs: Number(values.duration) })
        hits.set(server, result.requestsPerSecond)
      }
      for (const server of order) {
        const missBody = (index: number) => body.replace("capital", `capital ${round}-${index}`)
        misses.set(server, (await sequentialLatency(url(server), Number(values.misses), missBody)).p50Ms)
      }
      ratios.push(hits.get(head)! / hits.get(base)!)
      missAdded.push(misses.get(head)! - misses.get(base)!)
      console.log(
        `${runtime} round ${round + 1}: exact hits ${hits.get(head)!.toFixed(0)} req/s now, ${
          hits.get(base)!.toFixed(0)
        } at the base (${ratios.at(-1)!.toFixed(3)}×); miss p50 ${misses.get(head)!.toFixed(3)} vs ${
          misses.get(base)!.toFixed(3)
        } ms`
      )
    }
    console.log(`${runtime} (${tool}, c${connections}; load average ${loadBefore} before, ${loads()} after):`)
    console.log(`  exact-hit req/s now ÷ base: ${spread(ratios, 3)}`)
    console.log(`  miss p50 now − base, ms: ${spread(missAdded, 3)}`)
  } finally {
    for (const server of started) server.stop()
  }
}

const baseTree = extract(values.base)
try {
  for (const runtime of values.runtimes.split(",")) await compare(runtime as RuntimeName, baseTree)
} finally {
  rmSync(baseTree, { recursive: true, force: true })
}
