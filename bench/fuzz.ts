// The reliability fuzzer as a bench: the same generator and checks as test/reliability/fuzz.test.ts, with the
// figures printed as JSON instead of asserted — /healthz latency (p50/p99/max) under the fuzz load, the status
// counts, and every distinct failure with a shrunk reproducer. `--runtime bun|deno` fuzzes the gateways served by
// that runtime's own server, each in its own process, every request over a socket.
// Usage: npm run bench:fuzz -- [--requests 10000] [--seed 20261128] [--workers 6] [--no-semantic] [--minutes 5]
//                              [--probe-every 20]   (ms between /healthz probes: enough samples for a real p99)
//                              [--runtime node|bun|deno]
import { parseArgs } from "node:util"
import { semanticBackends } from "../runtimes/shared.ts"
import { runFuzz } from "../test/support/fuzz/run.ts"
import { startFuzzTargets } from "../test/support/fuzz/targets.ts"
import { probeHealthz } from "../test/support/fuzz/watch.ts"
import type { RuntimeName } from "../test/support/processes.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "10000" },
    seed: { type: "string", default: "20261128" },
    workers: { type: "string", default: "6" },
    minutes: { type: "string", default: "5" },
    "probe-every": { type: "string", default: "20" },
    "no-semantic": { type: "boolean", default: false },
    runtime: { type: "string", default: "node" }
  }
})
const runtimes: ReadonlyArray<RuntimeName> = ["node", "bun", "deno"]
const runtime = runtimes.find((name) => name === values.runtime)
if (runtime === undefined) throw new Error(`--runtime ${values.runtime}: expected one of ${runtimes.join(", ")}`)

const semantic = values["no-semantic"]
  ? undefined
  : semanticBackends(process.env, new URL("../runtimes/embedding/worker-node.mjs", import.meta.url))
const targets = await startFuzzTargets({ runtime, semantic })
const healthz = probeHealthz(targets.gateways.open!.url, Number(values["probe-every"]))
const result = await runFuzz({
  seed: Number(values.seed),
  requests: Number(values.requests),
  workers: Number(values.workers),
  timeLimitMs: Number(values.minutes) * 60_000,
  targets,
  onProgress: (line) => process.stderr.write(`${line}\n`)
})
const figures = { runtime, ...result, healthz: await healthz.stop() }
await targets.close()
console.log(JSON.stringify(figures, null, 2))
await writeResults("fuzz", figures)
