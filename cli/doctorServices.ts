// The doctor's checks of what the gateway talks to: the upstream, the L2 sidecar, Redis, the OTel collector, its port.
import { connect } from "node:net"
import type { LoadedConfig } from "../core/config/Config.ts"
import { redactUrl } from "../core/Gateway.ts"
import { portIsFree, portTakenMessage, splitHostPort } from "./gatewayEnv.ts"
import { liveness, stateDir } from "./state.ts"

export type Verdict = "ok" | "warn" | "fail" | "skip"

export interface Check {
  readonly name: string
  readonly verdict: Verdict
  readonly detail: string
  /** What to do about it; empty when nothing. */
  readonly fix: string
}

export const check = (name: string, verdict: Verdict, detail: string, fix = ""): Check => ({
  name,
  verdict,
  detail,
  fix
})

/** Where each public API lives when `external_llm_url` is empty (the providers' own defaults). */
const PUBLIC_APIS: Record<string, string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  xai: "https://api.x.ai/v1",
  gemini: "https://generativelanguage.googleapis.com",
  ollama: "http://127.0.0.1:11434/v1"
}

/** Any HTTP answer means reachable: HEAD (or GET) costs no tokens. */
const reachable = async (url: string, headers: Record<string, string> = {}) => {
  try {
    const response = await fetch(url, { method: "GET", headers, signal: AbortSignal.timeout(3000) })
    const body = await response.text()
    return { ok: true as const, status: response.status, body }
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    return { ok: false as const, reason: cause?.code ?? cause?.message ?? (error as Error).message }
  }
}

const tcpReachable = (host: string, port: number) =>
  new Promise<string | undefined>((resolve) => {
    const socket = connect({ host, port, timeout: 2000 })
    socket.once("connect", () => {
      socket.destroy()
      resolve(undefined)
    })
    socket.once("timeout", () => {
      socket.destroy()
      resolve("timed out")
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
  })

export const checkUpstream = async (loaded: LoadedConfig): Promise<Check> => {
  const config = loaded.config
  const url = config.external_llm_url || PUBLIC_APIS[config.llm_provider]
  if (!url) {
    return check(
      "upstream reachable",
      "fail",
      `${config.llm_provider} has no public API`,
      "set ISARTOR__EXTERNAL_LLM_URL"
    )
  }
  const answer = await reachable(url)
  return answer.ok
    ? check("upstream reachable", "ok", `${url} answers (HTTP ${answer.status}, no tokens spent)`)
    : check(
      "upstream reachable",
      "fail",
      `${url}: ${answer.reason}`,
      "check the URL, the network, and any proxy variables (see below)"
    )
}

export const checkSidecar = async (loaded: LoadedConfig): Promise<Check> => {
  const { config } = loaded
  if (!config.enable_slm_router || config.layer2.inference_engine !== "sidecar") {
    return check("L2 sidecar", "skip", "the router is off or runs embedded")
  }
  const base = config.layer2.sidecar_url.replace(/\/+$/, "")
  const answer = await reachable(`${base}/v1/models`)
  if (!answer.ok) {
    return check(
      "L2 sidecar",
      "fail",
      `${base}/v1/models: ${answer.reason}`,
      "start the sidecar, or fix ISARTOR__LAYER2__SIDECAR_URL (in Docker: the service name, e.g. http://sidecar:8081)"
    )
  }
  const listed = answer.body.includes(`"${config.layer2.model_name}"`)
  return listed
    ? check("L2 sidecar", "ok", `${base} serves ${config.layer2.model_name}`)
    : check(
      "L2 sidecar",
      "warn",
      `${base} answers, but does not list ${config.layer2.model_name}`,
      "set ISARTOR__LAYER2__MODEL_NAME to a model the sidecar lists at /v1/models"
    )
}

export const checkRedis = async (loaded: LoadedConfig): Promise<Check> => {
  const { config } = loaded
  if (config.cache_backend !== "redis") return check("Redis", "skip", "cache_backend = memory")
  const url = config.redis_url.split(",")[0]!.trim()
  const shown = redactUrl(url)
  const { createClient } = await import("redis")
  const client = createClient({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } })
  client.on("error", () => undefined)
  try {
    await client.connect()
    await client.ping()
    const policy = await client.configGet("maxmemory-policy").then((reply) => reply["maxmemory-policy"]).catch(() =>
      undefined
    )
    if (policy === "noeviction") {
      return check(
        "Redis",
        "warn",
        `${shown} answers; maxmemory-policy is noeviction: cache writes fail once Redis is full`,
        "redis-cli CONFIG SET maxmemory-policy allkeys-lru"
      )
    }
    return check("Redis", "ok", `${shown} answers PING${policy ? `; maxmemory-policy ${policy}` : ""}`)
  } catch (error) {
    return check(
      "Redis",
      "fail",
      `${shown}: ${(error as Error).message || "unreachable"}`,
      "start Redis, or fix ISARTOR__REDIS_URL (redis://host:6379); the caches fall through while it is down"
    )
  } finally {
    await client.close().catch(() => undefined)
  }
}

export const checkOtel = async (loaded: LoadedConfig): Promise<Check> => {
  const { config } = loaded
  if (!config.enable_monitoring) return check("OTel endpoint", "skip", "enable_monitoring = false")
  const url = new URL(config.otel_exporter_endpoint)
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80))
  const problem = await tcpReachable(url.hostname, port)
  return problem === undefined
    ? check("OTel endpoint", "ok", `${url.host} accepts connections`)
    : check(
      "OTel endpoint",
      "fail",
      `${url.host}: ${problem}`,
      "start the collector, or fix ISARTOR__OTEL_EXPORTER_ENDPOINT (e.g. http://otel-collector:4317)"
    )
}

export const checkPort = async (loaded: LoadedConfig): Promise<Check> => {
  const { hostname, port } = splitHostPort(loaded.config.host_port)
  const ours = liveness(stateDir())
  if (ours.kind === "running" && new URL(ours.running.url).port === String(port)) {
    return check("port", "ok", `${port} is in use by isartor itself (pid ${ours.running.pid})`)
  }
  return (await portIsFree(hostname, port))
    ? check("port", "ok", `${hostname}:${port} is free`)
    : check("port", "fail", await portTakenMessage(hostname, port), "")
}

/**
 * The proxy: running where the connected proxy tools (Copilot, Antigravity) expect it, since their editor's
 * requests fail while it is not. Not running and not expected is fine.
 */
export const checkProxy = async (env: Record<string, string | undefined>): Promise<Check> => {
  const { proxyDemand } = await import("./proxy/autostart.ts")
  const { url, tools } = await proxyDemand(env)
  const expected = tools.length > 0 ? ` for ${tools.join(", ")}` : ""
  const state = liveness(stateDir(), "proxy")
  if (state.kind === "running") {
    const where = new URL(state.running.url)
    const problem = await tcpReachable(where.hostname, Number(where.port))
    if (problem !== undefined) {
      return check(
        "proxy",
        "fail",
        `pid ${state.running.pid} is recorded at ${state.running.url}, which does not accept connections (${problem})`,
        "isartor stop, then isartor up (or isartor proxy)"
      )
    }
    return state.running.url === url || tools.length === 0
      ? check("proxy", "ok", `running at ${state.running.url} (pid ${state.running.pid})${expected}`)
      : check(
        "proxy",
        "fail",
        `running at ${state.running.url}, but ${tools.join(", ")} expect it at ${url} (proxy.port changed since)`,
        "isartor stop, then isartor up (it starts the proxy on proxy.port)"
      )
  }
  if (tools.length === 0) return check("proxy", "ok", "not running; no proxy tool is connected")
  const port = Number(new URL(url).port)
  if (!(await portIsFree("127.0.0.1", port))) {
    return check(
      "proxy",
      "fail",
      `${tools.join(", ")} ${tools.length > 1 ? "go" : "goes"} through ${url}, where another program listens (${
        port === 8081 ? "the L2 sidecar's default port is 8081 too" : "not an isartor proxy"
      }): the proxy cannot start there`,
      "set ISARTOR__PROXY__PORT (proxy.port) to a free port, then isartor connect " + tools[0] + " again and isartor up"
    )
  }
  return check(
    "proxy",
    "fail",
    `${tools.join(", ")} ${tools.length > 1 ? "go" : "goes"} through ${url}, but no proxy runs there: ${
      tools.length > 1 ? "their" : "its"
    } requests fail`,
    `isartor up (it starts the proxy for connected tools), or isartor proxy; or undo: isartor connect ${
      tools[0]
    } --disconnect`
  )
}

/** The proxy's CA: present when a tool trusts it, its private key readable by its owner only. */
export const checkProxyCa = async (env: Record<string, string | undefined>): Promise<Check> => {
  const { join } = await import("node:path")
  const { existsSync, statSync } = await import("node:fs")
  const { caDir } = await import("./proxy/ca.ts")
  const { proxyDemand } = await import("./proxy/autostart.ts")
  const dir = caDir(stateDir())
  const certFile = join(dir, "ca.pem")
  const keyFile = join(dir, "ca-key.pem")
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const { tools } = await proxyDemand(env)
    return tools.length === 0
      ? check("proxy CA", "skip", `not made yet (isartor proxy or isartor connect copilot makes it in ${dir})`)
      : check(
        "proxy CA",
        "fail",
        `${tools.join(", ")} ${tools.length > 1 ? "trust" : "trusts"} ${certFile}, which does not exist`,
        "isartor proxy --rotate-ca (makes a new CA), then restart the editor from a shell with the exports isartor connect prints"
      )
  }
  if (process.platform === "win32") return check("proxy CA", "ok", `${certFile} (its key in ${dir})`)
  const mode = statSync(keyFile).mode & 0o777
  return mode === 0o600
    ? check("proxy CA", "ok", `${certFile}; its key ${keyFile} is mode 0600 (owner only)`)
    : check(
      "proxy CA",
      "fail",
      `${keyFile} is mode 0${
        mode.toString(8)
      }: others on this machine can read the key that lets them impersonate the proxied hosts to you`,
      `chmod 600 ${keyFile} (or isartor proxy --rotate-ca to replace a key that may have been read)`
    )
}
