import { Redacted } from "effect"
import type { UsageTotals } from "../core/usage/UsageRow.ts"
import { bold, formatDuration, green, printJson, red, yellow } from "./output.ts"
import { liveness, removeRunning, stateDir } from "./state.ts"
import { tokens, usd } from "./stats.ts"

interface Health {
  readonly version?: string
  readonly uptime_secs?: number
  readonly layers?: Record<string, { readonly status: string; readonly reason?: string }>
}

/** Requests per final layer, from the Prometheus text of /metrics (`isartor_requests_total{final_layer=…}`). */
export const requestsByLayer = (metrics: string): Record<string, number> | undefined => {
  const counts: Record<string, number> = {}
  let found = false
  for (const line of metrics.split("\n")) {
    const match = /^isartor_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line)
    if (!match) continue
    // Requests refused before any layer (a bad body, a wrong key) carry final_layer="-": not part of the deflection.
    const layer = /final_layer="([^"]*)"/.exec(match[1]!)?.[1]
    if (layer === undefined || layer === "-") continue
    counts[layer] = (counts[layer] ?? 0) + Number(match[2])
    found = true
  }
  return found ? counts : undefined
}

/** The share of requests answered without the cloud provider (anything but L3). */
export const deflectionOf = (counts: Record<string, number>) => {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0)
  const cloud = Object.entries(counts).filter(([layer]) => /l3|cloud/i.test(layer)).reduce((sum, [, n]) => sum + n, 0)
  return { total, deflection: total === 0 ? undefined : 1 - cloud / total }
}

/** Today's spent and saved (UTC day), from the admin API's overview; else why they cannot be shown. */
const today = async (url: string): Promise<{ totals: UsageTotals } | { unavailable: string }> => {
  const { adminRequest, adminTarget } = await import("./adminApi.ts")
  if ((await adminTarget({ url })).key === undefined) {
    return { unavailable: "set ISARTOR__ADMIN_API_KEY (the gateway's admin key) to see them, or run isartor stats" }
  }
  try {
    const overview = await adminRequest({ url, timeoutMs: 3000 }, "GET", "/admin/overview")
    return { totals: overview.today as UsageTotals }
  } catch (error) {
    return { unavailable: (error as Error).message }
  }
}

/** The proxy: whether it runs, and which connected tools (their editor settings) expect it. */
const proxyStatus = async (dir: string) => {
  const { proxyDemand } = await import("./proxy/autostart.ts")
  const { gatewayEnv } = await import("./gatewayEnv.ts")
  const { url, tools } = await proxyDemand(gatewayEnv({}))
  const state = liveness(dir, "proxy")
  if (state.kind === "stale") removeRunning(dir, state.running.pid, "proxy")
  return state.kind === "running"
    ? { running: true, pid: state.running.pid, url: state.running.url, tools }
    : { running: false, url, tools }
}

const printProxy = (proxy: Awaited<ReturnType<typeof proxyStatus>>) => {
  const forTools = proxy.tools.length > 0 ? ` for ${proxy.tools.join(", ")}` : ""
  if (proxy.running) console.log(`  proxy    ${green("running")} at ${proxy.url} (pid ${proxy.pid})${forTools}`)
  else if (proxy.tools.length > 0) {
    console.log(
      `  proxy    ${yellow("not running")}, but ${proxy.tools.join(", ")} ${
        proxy.tools.length > 1 ? "go" : "goes"
      } through ${proxy.url}: isartor up starts it (or isartor proxy)`
    )
  }
}

/** Not running: says so (and drops a stale pid file), with the proxy's state. */
const notRunning = (
  dir: string,
  state: Exclude<ReturnType<typeof liveness>, { kind: "running" }>,
  proxy: ProxyState,
  json: boolean
) => {
  if (state.kind === "stale") removeRunning(dir, state.running.pid)
  if (json) printJson({ running: false, proxy })
  else {
    console.log(
      `isartor is ${red("not running")}${state.kind === "stale" ? ` (removed a stale pid file: ${state.why})` : ""}`
    )
    printProxy(proxy)
  }
  return 1
}

type ProxyState = Awaited<ReturnType<typeof proxyStatus>>
type RunningState = Extract<ReturnType<typeof liveness>, { kind: "running" }>["running"]

/** GET of the running gateway with its key: the body, or undefined when it does not answer. */
const gatewayGetter = async (running: RunningState) => {
  const headers: Record<string, string> = {}
  // The configuration (for the gateway key) loads only when there is a gateway to ask.
  const { effectiveConfig, gatewayEnv } = await import("./gatewayEnv.ts")
  const key = await effectiveConfig(gatewayEnv({ config: running.config })).then((loaded) =>
    Redacted.value(loaded.config.gateway_api_key)
  )
    .catch(() => "")
  if (key !== "") headers["x-api-key"] = key
  return async (path: string) => {
    try {
      const response = await fetch(`${running.url}${path}`, { headers, signal: AbortSignal.timeout(3000) })
      return response.ok ? await response.text() : undefined
    } catch {
      return undefined
    }
  }
}

/** What `status` reports of a running gateway: /health, /metrics and today's usage, asked of it. */
const report = async (running: RunningState, proxy: ProxyState) => {
  const get = await gatewayGetter(running)
  const healthText = await get("/health")
  const health = healthText ? JSON.parse(healthText) as Health : undefined
  const metricsText = await get("/metrics")
  const counts = metricsText ? requestsByLayer(metricsText) : undefined
  const deflection = counts ? deflectionOf(counts) : undefined
  const uptimeSecs = health?.uptime_secs ?? (Date.now() - running.startedAt) / 1000
  const usage = await today(running.url)
  const result = {
    running: true,
    answering: health !== undefined,
    pid: running.pid,
    url: running.url,
    uptime_secs: Math.round(uptimeSecs),
    version: health?.version ?? running.version,
    log: running.log ?? null,
    layers: health?.layers ?? {},
    requests: counts ?? null,
    deflection: deflection?.deflection ?? null,
    today: "totals" in usage ? usage.totals : null,
    proxy
  }
  return { result, health, counts, deflection, uptimeSecs, usage }
}

const printReport = (
  running: RunningState,
  { result, health, counts, deflection, uptimeSecs, usage }: Awaited<ReturnType<typeof report>>
) => {
  console.log(`isartor is ${green("running")} at ${bold(running.url)} (pid ${running.pid})`)
  console.log(`  version  ${result.version}`)
  console.log(`  uptime   ${formatDuration(uptimeSecs)}`)
  if (running.log) console.log(`  log      ${running.log}`)
  if (!health) console.log(`  ${yellow("/health does not answer")} (still starting, or a gateway key this shell lacks)`)
  for (const [layer, value] of Object.entries(result.layers)) {
    const paint = value.status === "ok" ? green : value.status === "disabled" ? (text: string) => text : yellow
    console.log(`  ${layer.padEnd(8)} ${paint(value.status)}${value.reason ? ` — ${value.reason}` : ""}`)
  }
  if (deflection && deflection.deflection !== undefined) {
    console.log(`  deflected ${(deflection.deflection * 100).toFixed(1)} % of ${deflection.total} requests`)
  } else {
    console.log(`  deflection: ${counts ? "no requests yet" : "no figures (/metrics does not answer)"}`)
  }
  if ("totals" in usage) {
    const { totals } = usage
    console.log(`  spent today  ${tokens(totals.tokens_in + totals.tokens_out)} tokens, ${usd(totals.cost_usd)}`)
    console.log(`  saved today  ${tokens(totals.tokens_saved)} tokens, ${usd(totals.cost_saved_usd)}`)
  } else {
    console.log(`  spent/saved today: ${usage.unavailable}`)
  }
  printProxy(result.proxy)
}

/** `isartor status`: whether it runs, where, since when, each layer's status and the deflection so far. Exit 1 when not running. */
export const status = async (options: { readonly json?: boolean }): Promise<number> => {
  const dir = stateDir()
  const state = liveness(dir)
  const proxy = await proxyStatus(dir)
  if (state.kind !== "running") return notRunning(dir, state, proxy, options.json === true)
  const reported = await report(state.running, proxy)
  if (options.json) printJson(reported.result)
  else printReport(state.running, reported)
  return 0
}
