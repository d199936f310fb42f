// Usage-ledger overhead: exact-hit throughput and the miss path's added p50 with the ledger on (the default) against
// `usage_ledger = false`, two gateways of one runtime side by side, rounds alternated. Prints figures; asserts nothing.
// Usage: npm run bench:ledger -- [--runtime node|bun|deno] [--duration 5] [--rounds 3] [--connections 16]
import { loadavg } from "node:os"
import { parseArgs } from "node:util"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { load, sequentialLatency, wrkAvailable } from "./load.ts"

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
const tool = (await wrkAvailable()) ? "wrk" : "autocannon"
const body = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "What is the capital of France?" }]
})

const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
const started: Array<StartedProcess> = [upstream]
try {
  const gateway = (ledger: boolean) =>
    startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__EXTERNAL_LLM_URL: upstream.url,
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__USAGE_LEDGER: String(ledger)
    })
  const on = await gateway(true)
  const off = await gateway(false)
  started.push(on, off)
  const url = (server: StartedProcess) => `${server.url}/v1/chat/completions`
  for (const server of [on, off]) await load(tool, { url: url(server), body, connections: 16, durationSecs: 2 })
  const ratios: Array<number> = []
  const added: Array<number> = []
  for (let round = 0; round < Number(values.rounds); round++) {
    const options = { body, connections: Number(values.connections), durationSecs: Number(values.duration) }
    const order = round % 2 === 0 ? [on, off] : [off, on]
    const [first, second] = [
      await load(tool, { ...options, url: url(order[0]!) }),
      await load(tool, { ...options, url: url(order[1]!) })
    ]
    const [withLedger, without] = order[0] === on ? [first, second] : [second, first]
    ratios.push(withLedger.requestsPerSecond / without.requestsPerSecond)
    const missBody = (index: number) => body.replace("capital", `capital ${round}-${index}`)
    const missesOn = await sequentialLatency(url(on), Number(values.misses), missBody)
    const missesOff = await sequentialLatency(url(off), Number(values.misses), missBody)
    added.push(missesOn.p50Ms - missesOff.p50Ms)
    console.log(
      `round ${round + 1}: exact hits ${withLedger.requestsPerSecond.toFixed(0)} req/s with the ledger, ` +
        `${without.requestsPerSecond.toFixed(0)} without (${ratios.at(-1)!.toFixed(3)}×); miss p50 ` +
        `${missesOn.p50Ms.toFixed(3)} ms vs ${missesOff.p50Ms.toFixed(3)} ms`
    )
  }
  const range = (numbers: Array<number>, digits: number) =>
    `${Math.min(...numbers).toFixed(digits)}–${Math.max(...numbers).toFixed(digits)}`
  const median = (numbers: Array<number>) => {
    const sorted = [...numbers].sort((a, b) => a - b)
    const middle = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  }
  console.log(
    `${runtime}: exact-hit req/s ledger on / off ${range(ratios, 3)}× (median ${median(ratios).toFixed(3)}×); ` +
      `miss p50 added ${range(added, 3)} ms (median ${median(added).toFixed(3)} ms) (${tool}; load average ${
        loadavg().map((load) => load.toFixed(1)).join(", ")
      })`
  )
} finally {
  for (const server of started) server.stop()
}
