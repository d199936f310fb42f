// The Node gateway (runtimes/node.ts, unchanged) with a sampler for bench/soak.ts: every few seconds it prints one
// `soak-sample {…}` line — its own RSS and heap, the event loop's delay (p50/p99/max since the last line, from
// perf_hooks.monitorEventLoopDelay) and its active handles by type (process.getActiveResourcesInfo). Bench-only:
// nothing in core/ or runtimes/ knows about it.
import { monitorEventLoopDelay } from "node:perf_hooks"

const everyMs = Number(process.env.SOAK_SAMPLE_MS ?? 5_000)
const delay = monitorEventLoopDelay({ resolution: 10 })
delay.enable()

await import("../runtimes/node.ts")

const ms = (nanoseconds: number) => Number((nanoseconds / 1e6).toFixed(2))
const sample = () => {
  const memory = process.memoryUsage()
  const handles: Record<string, number> = {}
  for (const resource of process.getActiveResourcesInfo()) handles[resource] = (handles[resource] ?? 0) + 1
  console.log(`soak-sample ${
    JSON.stringify({
      uptimeMs: Math.round(process.uptime() * 1000),
      rssMb: Number((memory.rss / 2 ** 20).toFixed(1)),
      heapUsedMb: Number((memory.heapUsed / 2 ** 20).toFixed(1)),
      externalMb: Number((memory.external / 2 ** 20).toFixed(1)),
      eventLoopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
      handles
    })
  }`)
  delay.reset()
}
// Unref'd: the sampler must not keep a gateway alive that is shutting down.
setInterval(sample, everyMs).unref()
