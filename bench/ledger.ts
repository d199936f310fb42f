// Usage-ledger overhead: exact-hit throughput and the miss path's added p50 with the ledger on (the default) against
// `usage_ledger = false`, two gateways of one runtime side by side. Many short rounds, each gateway warmed before it
// is measured, the order alternated in every round (hits and misses), and each figure given as its median with its
// quartiles and range: on a shared machine one round says little, the spread says how much the median can be trusted.
// On Linux, each round also reads the gateway processes' CPU time per exact hit (all threads: the ledger's worker
// too), which moves less than a throughput with the machine's other load. Prints figures; asserts nothing.
// Usage: npm run bench:ledger -- [--runtime node|bun|deno] [--duration 3] [--warmup 1] [--rounds 10]
//        [--connections 16] [--misses 300] [--control]
//        --control: an A/A run, both gateways with the ledger on: the bench's own bias between its two gateways.
//        npm run bench:ledger -- --in-process [--rounds 7] [--hits 40000]: the two gateways in this process, exact
//        hits through their fetch one after another, and the process's CPU time per hit (less swayed by other
//        loads than a throughput; without the HTTP server's share, so the ledger's share shows larger).
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { type Gateway, startGateway } from "../core/Gateway.ts"
import { openUsageStore } from "../runtimes/usage/sqliteStore.ts"
import { startFakeOpenAI } from "../test/support/fakeOpenAI.ts"
import { upstreamEnv } from "../test/support/gateway.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, sequentialLatency, wrkAvailable } from "./load.ts"
import { loads, median, spread } from "./stats.ts"

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    duration: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    rounds: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    misses: { type: "string", default: "300" },
    "in-process": { type: "boolean", default: false },
    hits: { type: "string", default: "40000" },
    control: { type: "boolean", default: false }
  }
})
const runtime = values.runtime as RuntimeName
const tool = (await wrkAvailable()) ? "wrk" : "autocannon"
const body = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "What is the capital of France?" }]
})

/** CPU time per exact hit, ledger on (its SQLite file, as the runtimes open it) and off, rounds alternated. */
const inProcess = async () => {
  const fake = await startFakeOpenAI()
  const home = mkdtempSync(join(tmpdir(), "isartor-bench-ledger-"))
  const gateway = (ledger: boolean) =>
    startGateway({
      env: upstreamEnv(fake.url, {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__USAGE_LEDGER: String(ledger)
      }),
      readTextFile: async () => undefined
    }, {
      log: { info: () => undefined, warn: (line) => console.error(line) },
      usageStore: (path) => openUsageStore(path, { ISARTOR_HOME: home })
    })
  const on = await gateway(true)
  const off = await gateway(false)
  try {
    const hit = async (target: Gateway) => {
      const response = await target.fetch(
        new Request("http://gateway.bench/v1/chat/completions", {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
          body
        })
      )
      await response.text()
      return response.headers.get("x-isartor-layer")
    }
    for (const target of [on, off]) await hit(target)
    assert.deepEqual([await hit(on), await hit(off)], ["l1a", "l1a"])
    const cpuPerHit = async (target: Gateway, hits: number) => {
      const started = process.cpuUsage()
      for (let index = 0; index < hits; index++) await hit(target)
      const used = process.cpuUsage(started)
      return (used.user + used.system) / hits
    }
    for (const target of [on, off]) await cpuPerHit(target, 5000)
    const ratios: Array<number> = []
    for (let round = 0; round < Number(values.rounds); round++) {
      const hits = Number(values.hits)
      const order = round % 2 === 0 ? [on, off] : [off, on]
      const first = await cpuPerHit(order[0]!, hits)
      const second = await cpuPerHit(order[1]!, hits)
      const [withLedger, without] = order[0] === on ? [first, second] : [second, first]
      ratios.push(without / withLedger)
      console.log(
        `round ${round + 1}: CPU per exact hit ${withLedger.toFixed(1)} µs with the ledger, ${
          without.toFixed(1)
        } µs without (${ratios.at(-1)!.toFixed(3)}× the hits per CPU second)`
      )
    }
    console.log(
      `in-process: exact hits per CPU second, ledger on / off ${Math.min(...ratios).toFixed(3)}–${
        Math.max(...ratios).toFixed(3)
      }× (median ${median(ratios).toFixed(3)}×; load average ${loads()})`
    )
  } finally {
    await on.dispose()
    await off.dispose()
    await fake.close()
    rmSync(home, { recursive: true, force: true })
  }
}
if (values["in-process"]) {
  await inProcess()
  process.exit(0)
}

/** A process's CPU time so far, all its threads (Linux: /proc); `undefined` elsewhere. */
const cpuMsOf = (pid: number | undefined): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/** One gateway's exact hits at the round's load, after a warm-up: req/s, and CPU µs per hit where it can be read. */
const exactHits = async (server: StartedProcess) => {
  const url = `${server.url}/v1/chat/completions`
  await load(tool, { url, body, connections: Number(values.connections), durationSecs: Number(values.warmup) })
  const before = cpuMsOf(server.child.pid)
  const result = await load(tool, {
    url,
    body,
    connections: Number(values.connections),
    durationSecs: Number(values.duration)
  })
  const after = cpuMsOf(server.child.pid)
  const hits = result.requestsPerSecond * Number(values.duration)
  return {
    requestsPerSecond: result.requestsPerSecond,
    cpuMicros: before === undefined || after === undefined ? undefined : (after - before) * 1000 / hits
  }
}

const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
const started: Array<StartedProcess> = [upstream]
try {
  const gateway = (ledger: boolean) =>
    startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__EXTERNAL_LLM_URL: upstream.url,
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__USAGE_LEDGER: String(ledger || values.control)
    })
  const on = await gateway(true)
  const off = await gateway(false)
  started.push(on, off)
  if (values.control) console.log("control (A/A): both gateways with the ledger; \"off\" is the second one")
  const url = (server: StartedProcess) => `${server.url}/v1/chat/completions`
  for (const server of [on, off]) await load(tool, { url: url(server), body, connections: 16, durationSecs: 2 })
  const loadBefore = loads()
  const ratios: Array<number> = []
  const cpuAdded: Array<number> = []
  const added: Array<number> = []
  for (let round = 0; round < Number(values.rounds); round++) {
    // Alternated, so that neither gateway always runs first (after the other's load, or while the machine's changes).
    const onFirst = round % 2 === 0
    const order = onFirst ? [on, off] : [off, on]
    const first = await exactHits(order[0]!)
    const second = await exactHits(order[1]!)
    const [withLedger, without] = onFirst ? [first, second] : [second, first]
    ratios.push(withLedger.requestsPerSecond / without.requestsPerSecond)
    if (withLedger.cpuMicros !== undefined && without.cpuMicros !== undefined) {
      cpuAdded.push(withLedger.cpuMicros - without.cpuMicros)
    }
    const missBody = (index: number) => body.replace("capital", `capital ${round}-${index}`)
    const misses = async (server: StartedProcess) => sequentialLatency(url(server), Number(values.misses), missBody)
    const missesFirst = await misses(order[0]!)
    const missesSecond = await misses(order[1]!)
    const [missesOn, missesOff] = onFirst ? [missesFirst, missesSecond] : [missesSecond, missesFirst]
    added.push(missesOn.p50Ms - missesOff.p50Ms)
    const cpu = cpuAdded.length === ratios.length
      ? `; CPU ${withLedger.cpuMicros!.toFixed(1)} µs vs ${without.cpuMicros!.toFixed(1)} µs per hit`
      : ""
    console.log(
      `round ${round + 1}: exact hits ${withLedger.requestsPerSecond.toFixed(0)} req/s with the ledger, ` +
        `${without.requestsPerSecond.toFixed(0)} without (${ratios.at(-1)!.toFixed(3)}×)${cpu}; miss p50 ` +
        `${missesOn.p50Ms.toFixed(3)} ms vs ${missesOff.p50Ms.toFixed(3)} ms`
    )
  }
  console.log(
    `${runtime} (${tool}, c${values.connections}, ${values.duration} s a run; load average ${loadBefore} ` +
      `before, ${loads()} after):`
  )
  console.log(`  exact-hit req/s ledger on / off: ${spread(ratios, 3)}`)
  if (cpuAdded.length > 0) console.log(`  gateway CPU per exact hit added by the ledger, µs: ${spread(cpuAdded, 2)}`)
  console.log(`  miss p50 added, ms: ${spread(added, 3)}`)
} finally {
  for (const server of started) server.stop()
}
