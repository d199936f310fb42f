// `npm run bench:semantic-perf -- --parts scaling|http`'s over-HTTP figures (issue 31, item 5): a real gateway
// holding one large scope and a 100-entry scope beside it, timed at concurrency 1, with the gateway's own CPU per
// request beside each latency. Imported by bench/semantic-perf.ts; asserts nothing.
import { readFileSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import { loadavg } from "node:os"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../test/support/processes.ts"

export const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
export const quantiles = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { p50: at(0.5), p99: at(0.99) }
}

// One scope's questions: every one new, all alike but for a verb, a topic, a place and a project number — the
// worst case for the graph (every neighbour is near) and for the decision (every candidate reaches its floor).
const VERBS = ["manage", "reset", "configure", "delete", "export", "find", "change", "enable", "disable", "share"]
const TOPICS = [
  "invoices",
  "passwords",
  "webhooks",
  "exports",
  "the billing address",
  "two-factor login",
  "API keys",
  "refunds",
  "shipping labels",
  "user roles",
  "audit logs",
  "custom domains"
]
const PLACES = ["dashboard", "mobile app", "admin console", "CLI", "settings page", "API"]
export const question = (i: number) =>
  `How do I ${VERBS[i % 10]} ${TOPICS[Math.floor(i / 10) % 12]} for project ${i} in the ${
    PLACES[Math.floor(i / 120) % 6]
  }?`
/** The same question in other case and punctuation: a new exact key, the same words. */
export const reworded = (i: number) => question(i).toLowerCase().replace("?", "")
export const BESIDE = 100
// The error budget serves nothing until it has observed hits like it: here every would-be hit is served, so that a
// hit's path is the one timed.
export const SERVE_WOULD_BE_HITS = { ISARTOR__L1B_ERROR_BUDGET: "1" }

/** CPU milliseconds a process has used (all its threads), from /proc; undefined where there is none. */
const cpuMsOf = (pid: number | undefined) => () => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * One kept-alive connection with Nagle off, on node:http: `fetch` (undici) cost the client about three times the
 * CPU per request (measured: bench/README.md), and at concurrency 1 on a shared machine the client's CPU is latency.
 */
const clientOf = (url: string) => {
  const { hostname, port } = new URL(url)
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  return (content: string, headers: Record<string, string> = {}) =>
    new Promise<string | undefined>((resolve, reject) => {
      const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
      const sent = httpRequest({
        host: hostname,
        port,
        path: "/v1/chat/completions",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers }
      }, (response) => {
        response.resume()
        response.on("end", () => {
          if (response.statusCode !== 200) reject(new Error(`the gateway answered ${response.statusCode}`))
          else resolve(response.headers["x-isartor-layer"]?.toString())
        })
      })
      sent.on("socket", (socket) => socket.setNoDelay(true))
      sent.on("error", reject)
      sent.end(body)
    })
}

type Kind = "hit" | "miss" | "bypassed" | "beside"
const KINDS: ReadonlyArray<Kind> = ["hit", "miss", "bypassed", "beside"]

const startGateway = async (runtime: RuntimeName, size: number, capacity: number, started: Array<StartedProcess>) => {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", "0"], {})
  started.push(upstream)
  const gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__CACHE_MAX_CAPACITY: String(capacity),
    ISARTOR__CACHE_TTL_SECS: "3600",
    // The default byte budget evicts these entries before a hundred thousand fit.
    ISARTOR__CACHE_MAX_BYTES: String(2 ** 32),
    ...SERVE_WOULD_BE_HITS
  })
  started.push(gateway)
  const ask = clientOf(gateway.url)
  // Filled eight at a time: each question is a miss that the gateway embeds and stores.
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < size; i = next++) await ask(question(i))
  }))
  for (let i = 0; i < BESIDE; i++) await ask(question(i), BESIDE_SCOPE)
  return { ask, cpuMs: cpuMsOf(gateway.child.pid) }
}

const BESIDE_SCOPE = { "x-isartor-session-id": "beside" }
const BYPASS = { "cache-control": "no-cache, no-store" }

/**
 * A real gateway holding `size` entries in one scope (and 100 in another), timed at concurrency 1: per kind, the
 * median of the rounds' p50s, the p99 of all samples and the gateway's CPU per request (/proc, all its threads).
 */
export const httpScaling = async (runtime: RuntimeName, size: number, options: { rounds: number; full: boolean }) => {
  const started: Array<StartedProcess> = []
  try {
    const capacity = size + BESIDE + (options.full ? 0 : 1000 * options.rounds)
    const { ask, cpuMs } = await startGateway(runtime, size, capacity, started)
    const samples = { hit: [], miss: [], bypassed: [], beside: [] } as Record<Kind, Array<number>>
    const p50s = { hit: [], miss: [], bypassed: [], beside: [] } as Record<Kind, Array<number>>
    const cpu = { hit: 0, miss: 0, bypassed: 0, beside: 0 } as Record<Kind, number>
    const layers: Record<string, number> = {}
    const taken = new Set<number>()
    let fresh = size + BESIDE
    let requests = 0
    let last: { kind: Kind; at: number | undefined } | undefined
    // Each request's CPU runs from its start to the next one's, so work the gateway does after answering counts.
    const charge = (next?: Kind) => {
      const now = cpuMs()
      if (last && last.at !== undefined && now !== undefined) cpu[last.kind] += now - last.at
      last = next && { kind: next, at: now }
    }
    const timed = async (kind: Kind, round: Array<number>, content: string, headers?: Record<string, string>) => {
      charge(kind)
      const at = performance.now()
      const layer = await ask(content, headers)
      round.push(performance.now() - at)
      return layer
    }
    for (let round = 0; round < options.rounds; round++) {
      const times = { hit: [], miss: [], bypassed: [], beside: [] } as Record<Kind, Array<number>>
      for (let r = 0; r < 40; r++, requests++) {
        let i = Math.floor(Math.random() * size)
        while (taken.has(i) && taken.size < size) i = (i + 1) % size
        taken.add(i)
        const layer = await timed("hit", times.hit, reworded(i))
        layers[layer ?? "?"] = (layers[layer ?? "?"] ?? 0) + 1
        await timed("miss", times.miss, question(fresh++))
        await timed("bypassed", times.bypassed, question(fresh++), BYPASS)
        await timed("beside", times.beside, `${reworded(r % BESIDE)} ${round}`, BESIDE_SCOPE)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
      charge()
      for (const kind of KINDS) {
        samples[kind].push(...times[kind])
        p50s[kind].push(quantiles(times[kind]).p50)
      }
    }
    const figure = (kind: Kind) => ({
      p50: median(p50s[kind]),
      p99: quantiles(samples[kind]).p99,
      cpu: cpu[kind] / requests
    })
    return {
      runtime,
      entries: size,
      layers,
      load: loadavg()[0]!,
      ...Object.fromEntries(KINDS.map((kind) => [kind, figure(kind)])) as Record<Kind, ReturnType<typeof figure>>
    }
  } finally {
    for (const process of started) process.stop()
  }
}
