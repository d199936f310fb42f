import { readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { startGateway } from "../core/Gateway.ts"
import { readTextFile } from "../runtimes/shared.ts"
import { startDemoProvider } from "./demoProvider.ts"
import { type CommandHost, isCompiled, projectRoot } from "./host.ts"
import { bold, CliFailure, dim, printJson } from "./output.ts"

export interface DemoOptions {
  readonly json?: boolean
  readonly limit?: number
}

const WORKLOADS = ["isartor-faq_loop.jsonl", "isartor-diverse_tasks.jsonl"] as const
const LAYERS = ["l1a", "l1b", "l2", "l3"] as const
/** What the fake cloud round trip costs, and how many requests are in flight at once. */
const PROVIDER_LATENCY_MS = 150
const CONCURRENCY = 16
/**
 * The demo shows what each layer can deflect, so its L1b serves every would-be hit: under the default budget a cold
 * cache serves none until enough checked hits show it safe, and the fake provider's answers (each echoes its prompt)
 * would label every paraphrase's hit wrong.
 */
const DEMO_L1B_ERROR_BUDGET = "1"

/** The workloads ship in data/ of the package; the single binary embeds them beside its code. */
const workloadPath = (name: string) =>
  isCompiled() ? join(dirname(fileURLToPath(import.meta.url)), name) : join(projectRoot(), "data", name)

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const bar = (done: number, total: number, label: string) => {
  if (!process.stderr.isTTY) return
  const width = 30
  const filled = Math.round((done / total) * width)
  process.stderr.write(`\r\x1b[2K${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`)
}

type Sample = { readonly layer: string; readonly ms: number }

/** Sends every prompt, CONCURRENCY at a time: which layer answered each (or its error status), and how fast. */
const sendAll = async (
  gateway: { readonly fetch: (request: Request) => Response | Promise<Response> },
  prompts: ReadonlyArray<string>,
  name: string
) => {
  const samples: Array<Sample> = []
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < prompts.length) {
      const prompt = prompts[next++]!
      const sent = performance.now()
      const response = await gateway.fetch(
        new Request("http://demo/api/chat", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt })
        })
      )
      await response.arrayBuffer()
      const layer = response.status === 200
        ? response.headers.get("x-isartor-layer") ?? "?"
        : `error ${response.status}`
      samples.push({ layer, ms: performance.now() - sent })
      bar(samples.length, prompts.length, name)
    }
  }))
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[2K")
  return samples
}

/** Replays one workload against a fresh in-process gateway; returns requests, deflection and latency per layer. */
const replay = async (name: string, host: CommandHost, limit: number | undefined) => {
  const text = await readFile(workloadPath(name), "utf8").catch(() => {
    throw new CliFailure(`the sample workload ${name} is missing from this installation (${workloadPath(name)})`)
  })
  const all = text.trim().split("\n").map((line) => (JSON.parse(line) as { prompt: string }).prompt)
  const prompts = limit ? all.slice(0, limit) : all
  const provider = await startDemoProvider(PROVIDER_LATENCY_MS)
  // The embedded defaults, whatever this shell's ISARTOR__ variables say: only the cache directories carry over.
  const env: Record<string, string | undefined> = {
    ISARTOR__EXTERNAL_LLM_URL: provider.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "demo-key-not-sent-anywhere",
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__L1B_ERROR_BUDGET: DEMO_L1B_ERROR_BUDGET,
    ISARTOR_HF_CACHE_DIR: process.env.ISARTOR_HF_CACHE_DIR,
    HF_HOME: process.env.HF_HOME,
    HOME: process.env.HOME
  }
  const quiet = { info: () => undefined, warn: () => undefined }
  const gateway = await startGateway({ env, readTextFile }, { semantic: await host.semantic(env), log: quiet })
  try {
    const started = performance.now()
    const samples = await sendAll(gateway, prompts, name)
    const wallSecs = (performance.now() - started) / 1000
    const layers = Object.fromEntries(LAYERS.map((layer) => {
      const times = samples.filter((sample) => sample.layer === layer).map((sample) => sample.ms).sort((a, b) => a - b)
      return [layer, { requests: times.length, p50_ms: percentile(times, 0.5), p99_ms: percentile(times, 0.99) }]
    }))
    const deflected = samples.filter((sample) => ["l1a", "l1b", "l2"].includes(sample.layer)).length
    return {
      workload: name,
      requests: samples.length,
      errors: samples.filter((sample) => !(LAYERS as ReadonlyArray<string>).includes(sample.layer)).length,
      deflection: deflected / samples.length,
      provider_calls: provider.calls(),
      seconds: wallSecs,
      layers
    }
  } finally {
    await gateway.dispose()
    await provider.close()
  }
}

const ms = (value: number | null) => value === null ? "—" : value.toFixed(1)

/** `isartor demo`: the two sample workloads through an in-process gateway and fake provider, as a table or JSON. */
export const demo = async (options: DemoOptions, host: CommandHost): Promise<number> => {
  const results = []
  for (const name of WORKLOADS) results.push(await replay(name, host, options.limit))
  if (options.json) {
    printJson({
      provider_latency_ms: PROVIDER_LATENCY_MS,
      concurrency: CONCURRENCY,
      l1b_error_budget: Number(DEMO_L1B_ERROR_BUDGET),
      workloads: results
    })
    return 0
  }
  console.log(
    dim(
      `in-process gateway (exact + semantic cache, USE-lite) before a fake provider answering in ${PROVIDER_LATENCY_MS} ms; ${CONCURRENCY} requests in flight`
    )
  )
  console.log(
    dim(
      "L1b error budget off for the demo (l1b_error_budget = 1); by default (l1b_error_budget = 0.05) L1b serves only after checked hits show it is safe"
    )
  )
  for (const result of results) {
    console.log("")
    console.log(
      `${bold(result.workload)}: ${result.requests} requests in ${result.seconds.toFixed(1)} s — ${
        bold(`${(result.deflection * 100).toFixed(1)} % deflected`)
      } (${result.provider_calls} reached the provider)`
    )
    console.log(
      `  ${"layer".padEnd(6)} ${"requests".padStart(9)} ${"share".padStart(7)} ${"p50 ms".padStart(8)} ${
        "p99 ms".padStart(8)
      }`
    )
    for (const layer of LAYERS) {
      const row = result.layers[layer]!
      console.log(
        `  ${layer.padEnd(6)} ${String(row.requests).padStart(9)} ${
          `${((row.requests / result.requests) * 100).toFixed(1)} %`.padStart(7)
        } ${ms(row.p50_ms).padStart(8)} ${ms(row.p99_ms).padStart(8)}`
      )
    }
    if (result.errors > 0) console.log(`  errors: ${result.errors}`)
  }
  return results.some((result) => result.errors > 0) ? 1 : 0
}
