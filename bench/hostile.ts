// What a hostile upstream costs the gateway on each runtime: how long /healthz waits (the event loop's stall) while
// a long SSE line passes through, and the gateway's RSS before and after compression bombs and endless lines.
// The same loopback upstream as test/reliability/hostile.e2e.ts; figures printed, never asserted.
// Usage: npm run bench:hostile -- [--runtimes node,bun,deno] [--line-mib 10] [--rounds 3]
import { readFile } from "node:fs/promises"
import { cpus, loadavg } from "node:os"
import { parseArgs } from "node:util"
import { probeHealthz } from "../test/support/fuzz/watch.ts"
import { compressionBomb, type Encoding, startHostileUpstream } from "../test/support/hostileUpstream.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "../test/support/processes.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    runtimes: { type: "string", default: "node,bun,deno" },
    "line-mib": { type: "string", default: "10" },
    rounds: { type: "string", default: "3" }
  }
})
const lineBytes = Number(values["line-mib"]) * 1024 * 1024
const rounds = Number(values.rounds)
const encodings: ReadonlyArray<Encoding> = ["gzip", "deflate", "br"]

const rss = async (pid: number) =>
  Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"))![1]) / 1024)

const bombs = Object.fromEntries(
  await Promise.all(encodings.map(async (encoding) => [encoding, await compressionBomb(encoding, 1024 ** 3)]))
) as Record<Encoding, Buffer>
const upstream = await startHostileUpstream(bombs)
const figures: Record<string, unknown> = {
  cores: cpus().length,
  loadavg: loadavg().map((load) => Number(load.toFixed(2))),
  lineBytes,
  bombInflatedBytes: 1024 ** 3,
  bombWireBytes: Object.fromEntries(encodings.map((encoding) => [encoding, bombs[encoding].length]))
}

/** A gateway on `runtime` against the hostile upstream, with `env` on top of the defaults. */
const startGateway = (runtime: RuntimeName, env: Record<string, string> = {}) =>
  startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-hostile-0123456789abcdef",
    ISARTOR__CACHE_MODE: "exact",
    ...env
  })

const chatOn = (url: string) => (content: string, stream: boolean) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content }] })
  }).then((response) => response.text())

/** `rounds` streams of one line of `bytes`, each with /healthz probed every 5 ms while it passes. */
const lineRounds = async (url: string, bytes: number, label: string) => {
  const chat = chatOn(url)
  const rows = []
  for (let round = 0; round < rounds; round++) {
    const probe = probeHealthz(url, 5)
    const started = performance.now()
    const text = await chat(`longline:${bytes}:${label}-${round}`, true)
    const took = performance.now() - started
    const healthz = await probe.stop()
    rows.push({
      ms: Math.round(took),
      passedWhole: text.includes("[DONE]"),
      refused: text.includes("max_sse_line_bytes"),
      healthzMaxMs: healthz.max
    })
  }
  return rows
}

for (const runtime of values.runtimes.split(",") as Array<RuntimeName>) {
  // Defaults: the line is refused once it passes max_sse_line_bytes (1 MiB).
  const defaults = await startGateway(runtime)
  // Bounds raised above the line: what carrying it whole costs, at 1/10 of its length and at its length.
  const raised = await startGateway(runtime, {
    ISARTOR__MAX_SSE_LINE_BYTES: String(2 * lineBytes),
    ISARTOR__MAX_UPSTREAM_BODY_BYTES: String(4 * lineBytes)
  })
  const pid = defaults.child.pid!
  const chat = chatOn(defaults.url)
  try {
    await chat("warm-up", false)
    await chatOn(raised.url)("warm-up", false)
    const refused = await lineRounds(defaults.url, lineBytes, `${runtime}-default`)
    const tenth = await lineRounds(raised.url, lineBytes / 10, `${runtime}-tenth`)
    const whole = await lineRounds(raised.url, lineBytes, `${runtime}-whole`)
    const rssBefore = await rss(pid)
    for (const encoding of encodings) {
      await chat(`bomb:${encoding}:json:${runtime}`, false)
      await chat(`bomb:${encoding}:sse:${runtime}`, true)
    }
    const rssAfterBombs = await rss(pid)
    await chat(`longline:${16 * lineBytes}:open:${runtime}`, true)
    figures[runtime] = {
      lineAtDefaults: refused,
      lineWholeTenth: tenth,
      lineWhole: whole,
      rssMiB: { before: rssBefore, afterBombs: rssAfterBombs, afterEndlessLine: await rss(pid) }
    }
    console.log(runtime, JSON.stringify(figures[runtime]))
  } finally {
    defaults.stop()
    raised.stop()
  }
}
await upstream.close()
console.log(JSON.stringify(figures, null, 2))
await writeResults("hostile", figures)
