// Soak: the Node gateway as a child process (bench/soak-gateway.ts: runtimes/node.ts plus a sampler, so the RSS is
// the gateway's own) behind a fake upstream process, driven at a fixed request rate with a mix of exact hits,
// misses, streams, Anthropic requests and long prompts (20–40 KB). Every 5 s the gateway reports its RSS, heap,
// event-loop delay and open handles; the run ends with a graceful SIGTERM. Writes JSON and an SVG chart to
// bench/results/ and prints RSS in minute 1 against the last minute.
// Usage: npm run bench:soak -- [--minutes 2] [--rate 20] [--capacity 500] [--latency 20]
import { parseArgs } from "node:util"
import { type StartedProcess, startProcess } from "../test/support/processes.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "2" },
    rate: { type: "string", default: "20" },
    // Small, so both caches are full within the first minutes: later growth is not the caches filling up.
    capacity: { type: "string", default: "500" },
    latency: { type: "string", default: "20" }
  }
})
const durationMs = Number(values.minutes) * 60_000
const rate = Number(values.rate)
const SAMPLE_MS = 5_000
const MAX_IN_FLIGHT = 256

interface Sample {
  readonly atMs: number
  readonly rssMb: number
  readonly heapUsedMb: number
  readonly externalMb: number
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly handles: Record<string, number>
  readonly requests: number
}

// ---- the request mix ----

const topics = [
  "password reset",
  "refund policy",
  "shipping times",
  "API rate limits",
  "invoice download",
  "2FA setup",
  "account deletion",
  "plan upgrade"
]
/** A small pool asked again and again: after the first round, exact-cache (L1a) hits. */
const repeated = Array.from(
  { length: 60 },
  (_, i) => `How do I handle ${topics[i % topics.length]} for customer number ${i}?`
)
let unique = 0
const fresh = () =>
  `Question ${++unique} at ${Date.now()}: what changed in release ${unique % 97}.${unique % 13} of the ${
    topics[unique % topics.length]
  } flow?`
/** 20–40 KB of text, new each time: a pasted document (tabs, not spaces: the fake streams its echo per word). */
const longPrompt = () => {
  const size = 20_000 + ((unique * 7_919) % 20_000)
  const words = `${fresh()}\tlog\tline\tstatus=ok\tlatency=12ms\tuser=alice\t`
  return words.repeat(Math.ceil(size / words.length)).slice(0, size)
}

type Kind = "exact hit" | "miss" | "stream" | "anthropic" | "long prompt"
const mix: ReadonlyArray<readonly [Kind, number]> = [
  ["exact hit", 45],
  ["miss", 20],
  ["stream", 15],
  ["anthropic", 10],
  ["long prompt", 10]
]
const pick = (n: number): Kind => {
  let at = n % 100
  for (const [kind, share] of mix) {
    if (at < share) return kind
    at -= share
  }
  return "miss"
}

const requestFor = (kind: Kind, n: number): { path: string; body: unknown } => {
  const chat = (content: string, stream = false) => ({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content }],
    ...(stream ? { stream } : {})
  })
  if (kind === "exact hit") return { path: "/v1/chat/completions", body: chat(repeated[n % repeated.length]!) }
  if (kind === "stream") {
    return { path: "/v1/chat/completions", body: chat(n % 2 === 0 ? repeated[n % repeated.length]! : fresh(), true) }
  }
  if (kind === "anthropic") {
    return {
      path: "/v1/messages",
      body: {
        model: "claude-haiku-4-5",
        max_tokens: 256,
        messages: [{ role: "user", content: n % 2 === 0 ? repeated[n % repeated.length]! : fresh() }]
      }
    }
  }
  if (kind === "long prompt") return { path: "/api/chat", body: { prompt: longPrompt() } }
  return { path: "/api/chat", body: { prompt: fresh() } }
}

// ---- the run ----

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!
}
const round = (value: number, digits = 1) => Number(value.toFixed(digits))

const processes: Array<StartedProcess> = []
try {
  const upstream = await startProcess([process.execPath, "--import", "tsx", "bench/upstream.ts", values.latency], {})
  processes.push(upstream)
  const gateway = await startProcess([process.execPath, "--import", "tsx", "bench/soak-gateway.ts"], {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000",
    ISARTOR__CACHE_MAX_CAPACITY: values.capacity,
    SOAK_SAMPLE_MS: String(SAMPLE_MS)
  })
  processes.push(gateway)
  const where = `${gateway.url} (pid ${gateway.child.pid})`
  console.error(`soak: ${values.minutes} min at ${rate} req/s against ${where}, cache capacity ${values.capacity}`)

  const statusCounts: Record<string, number> = {}
  const kindCounts: Record<string, number> = {}
  let sent = 0
  let inFlight = 0
  let shed = 0
  const startedAt = performance.now()
  const send = async (n: number) => {
    const kind = pick(n)
    const { path, body } = requestFor(kind, n)
    inFlight++
    kindCounts[kind] = (kindCounts[kind] ?? 0) + 1
    const key = await fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(async (response) => {
        await response.arrayBuffer()
        return String(response.status)
      })
      .catch((error: unknown) => `error: ${error instanceof Error ? error.message : String(error)}`)
    statusCounts[key] = (statusCounts[key] ?? 0) + 1
    inFlight--
  }

  // Open loop at a fixed rate: a slow gateway gets the same load, not less (above MAX_IN_FLIGHT a request is shed).
  const samples: Array<Sample> = []
  let consumed = 0
  const collect = () => {
    const lines = gateway.output().split("\n")
    for (const line of lines.slice(consumed)) {
      if (!line.startsWith("soak-sample ")) continue
      const sample = JSON.parse(line.slice("soak-sample ".length)) as Omit<Sample, "atMs" | "requests">
      samples.push({ ...sample, atMs: Math.round(performance.now() - startedAt), requests: sent })
      const last = samples[samples.length - 1]!
      const handles = Object.values(last.handles).reduce((sum, count) => sum + count, 0)
      const seconds = (last.atMs / 1000).toFixed(0)
      const memory = `rss ${last.rssMb} MB, heap ${last.heapUsedMb} MB`
      console.error(
        `${seconds} s: ${memory}, loop p99 ${last.eventLoopDelayMs.p99} ms, ${handles} handles, ${sent} requests`
      )
    }
    consumed = Math.max(consumed, lines.length - 1)
  }
  const sampler = setInterval(collect, 1_000)
  let n = 0
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * rate)
      for (; n < due; n++) {
        if (inFlight >= MAX_IN_FLIGHT) shed++
        else void send(n)
        sent++
      }
      if (performance.now() - startedAt >= durationMs) clearInterval(tick), resolve()
    }, 10)
  })
  while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS + 200))
  collect()
  clearInterval(sampler)

  // A graceful stop: SIGTERM must end the gateway, with exit code 0, once in-flight requests are done.
  const exit = new Promise<number | string>((resolve) =>
    gateway.child.once("exit", (code, signal) => resolve(code ?? String(signal)))
  )
  gateway.child.kill("SIGTERM")
  const exitCode = await Promise.race([
    exit,
    new Promise<string>((resolve) => setTimeout(() => resolve("still running 10 s after SIGTERM"), 10_000))
  ])

  // Windows cover the loaded run only: the samples taken after the load stopped show the gateway idle.
  const loaded = samples.filter((sample) => sample.atMs <= durationMs)
  const endMs = loaded[loaded.length - 1]?.atMs ?? 0
  const inWindow = (from: number, to: number) => loaded.filter((sample) => sample.atMs > from && sample.atMs <= to)
  const minute1 = inWindow(0, 60_000)
  const lastMinute = inWindow(endMs - 60_000, endMs)
  const rssMinute1 = median(minute1.map((sample) => sample.rssMb))
  const rssLastMinute = median(lastMinute.map((sample) => sample.rssMb))
  // The heap's low point in a window is about what survives a full GC: steadier than RSS, which follows the sawtooth.
  const heapFloor = (window: ReadonlyArray<Sample>) => Math.min(...window.map((sample) => sample.heapUsedMb))
  const handleTotals = samples.map((sample) => Object.values(sample.handles).reduce((sum, count) => sum + count, 0))
  const figures = {
    minutes: Number(values.minutes),
    rate,
    cacheCapacity: Number(values.capacity),
    upstreamLatencyMs: Number(values.latency),
    node: process.version,
    requests: sent,
    shed,
    kindCounts,
    statusCounts,
    rssMb: {
      minute1Median: rssMinute1,
      lastMinuteMedian: rssLastMinute,
      growthPercent: round(((rssLastMinute - rssMinute1) / rssMinute1) * 100)
    },
    heapFloorMb: { minute1: heapFloor(minute1), lastMinute: heapFloor(lastMinute) },
    eventLoopDelayP99Ms: {
      median: median(samples.map((sample) => sample.eventLoopDelayMs.p99)),
      max: Math.max(...samples.map((sample) => sample.eventLoopDelayMs.p99))
    },
    eventLoopDelayMaxMs: Math.max(...samples.map((sample) => sample.eventLoopDelayMs.max)),
    handles: {
      first: handleTotals[0],
      last: handleTotals[handleTotals.length - 1],
      max: Math.max(...handleTotals),
      lastByType: samples[samples.length - 1]?.handles
    },
    gatewayExit: exitCode,
    samples
  }
  const { samples: _, ...summary } = figures
  console.log(JSON.stringify(summary, null, 2))
  const growth = `${figures.rssMb.growthPercent >= 0 ? "+" : ""}${figures.rssMb.growthPercent} %`
  const { median: delayP99, max: worstDelayP99 } = figures.eventLoopDelayP99Ms
  console.log(
    `RSS minute 1 ${rssMinute1} MB → last minute ${rssLastMinute} MB (${growth}), ` +
      `event-loop delay p99 ${delayP99} ms (worst 5 s window ${worstDelayP99} ms), ` +
      `heap floor ${figures.heapFloorMb.minute1} → ${figures.heapFloorMb.lastMinute} MB, ` +
      `handles ${figures.handles.first} → ${figures.handles.last}`
  )
  await writeResults("soak", figures)
  await writeResults(
    "soak",
    figures,
    "svg",
    soakSvg(samples, `soak: ${values.minutes} min at ${rate} req/s, node ${process.version}`)
  )
} finally {
  for (const started of processes) started.stop()
}

/** Three stacked line charts over time: RSS and heap (MB), event-loop delay p99 (ms), open handles. */
function soakSvg(samples: ReadonlyArray<Sample>, title: string): string {
  const width = 760
  const panelHeight = 150
  const left = 60
  const right = width - 20
  const endMs = Math.max(1, ...samples.map((sample) => sample.atMs))
  const x = (ms: number) => left + (ms / endMs) * (right - left)
  const panels: Array<{ label: string; lines: Array<{ name: string; colour: string; values: Array<number> }> }> = [
    {
      label: "memory (MB)",
      lines: [
        { name: "rss", colour: "#4e79a7", values: samples.map((sample) => sample.rssMb) },
        { name: "heap used", colour: "#f28e2b", values: samples.map((sample) => sample.heapUsedMb) }
      ]
    },
    {
      label: "event-loop delay p99 (ms)",
      lines: [{ name: "p99", colour: "#e15759", values: samples.map((sample) => sample.eventLoopDelayMs.p99) }]
    },
    {
      label: "open handles",
      lines: [{
        name: "handles",
        colour: "#59a14f",
        values: samples.map((sample) => Object.values(sample.handles).reduce((sum, count) => sum + count, 0))
      }]
    }
  ]
  const parts: Array<string> = [
    `<text x="20" y="26" font-size="16" font-weight="bold">${title.replace(/[&<>]/g, "")}</text>`
  ]
  panels.forEach((panel, i) => {
    const top = 50 + i * (panelHeight + 40)
    const max = Math.max(1, ...panel.lines.flatMap((line) => line.values)) * 1.1
    const y = (value: number) => top + panelHeight - (value / max) * panelHeight
    parts.push(`<text x="${left}" y="${top - 6}" font-size="12">${panel.label}</text>`)
    parts.push(`<line x1="${left}" x2="${right}" y1="${top + panelHeight}" y2="${top + panelHeight}" stroke="#999"/>`)
    for (const tick of [0, max / 2, max]) {
      parts.push(
        `<text x="${left - 6}" y="${y(tick) + 4}" font-size="10" text-anchor="end">${
          tick.toFixed(tick < 10 ? 1 : 0)
        }</text>`
      )
    }
    panel.lines.forEach((line, j) => {
      const points = line.values.map((value, k) => `${x(samples[k]!.atMs).toFixed(1)},${y(value).toFixed(1)}`).join(" ")
      parts.push(`<polyline fill="none" stroke="${line.colour}" stroke-width="2" points="${points}"/>`)
      parts.push(
        `<text x="${right - 90}" y="${top + 12 + j * 14}" font-size="11" fill="${line.colour}">${line.name}</text>`
      )
    })
  })
  const axisY = 50 + panels.length * (panelHeight + 40) - 20
  for (let minute = 0; minute * 60_000 <= endMs; minute++) {
    parts.push(`<text x="${x(minute * 60_000)}" y="${axisY}" font-size="10" text-anchor="middle">${minute} min</text>`)
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${axisY + 20}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`
}
