import { spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs"
import { connectedProxyTools } from "../connect/status.ts"
import { selfCommand } from "../host.ts"
import { isAlive, liveness, logFile, removeRunning, rotateLog, type Running } from "../state.ts"

/** Where the proxy listens for this configuration (`proxy.port`), and which connected tools expect it there. */
export const proxyDemand = async (env: Record<string, string | undefined>) => {
  const { effectiveConfig } = await import("../gatewayEnv.ts")
  const port = await effectiveConfig(env).then((loaded) => loaded.config.proxy.port, () => 8081)
  const url = `http://127.0.0.1:${port}`
  return { url, tools: connectedProxyTools(url) }
}

export type ProxyStart =
  | { readonly kind: "not-needed" }
  | { readonly kind: "already"; readonly running: Running; readonly tools: ReadonlyArray<string> }
  | {
    readonly kind: "started"
    readonly pid: number
    readonly url: string
    readonly tools: ReadonlyArray<string>
    readonly log: string
    /** Resolves once the proxy listens (its record written) or with why it stopped. */
    readonly ready: Promise<{ readonly running: true } | { readonly running: false; readonly reason: string }>
  }

/** The last line of the proxy's log since `from`, for "why did it stop". */
const lastLine = (log: string, from: number) => {
  try {
    const lines = readFileSync(log).subarray(from).toString("utf8").split("\n").map((line) => line.trim())
    return lines.filter((line) => line !== "").at(-1) ?? "no output"
  } catch {
    return "no output"
  }
}

/**
 * `isartor up` with a proxy tool (Copilot, Antigravity) connected: `isartor proxy` as a child of the gateway's
 * process, its output in `proxy.log`, its own record in `proxy.pid` (so `status`, `stop` and `doctor` find it).
 * It ends with the gateway; `isartor stop` stops it too. Nothing starts when no proxy tool is connected, or when a
 * proxy of ours already runs (`isartor proxy` started alone).
 */
export const startProxyForTools = async (dir: string, env: Record<string, string | undefined>): Promise<ProxyStart> => {
  const { url, tools } = await proxyDemand(env)
  if (tools.length === 0) return { kind: "not-needed" }
  const state = liveness(dir, "proxy")
  if (state.kind === "running") return { kind: "already", running: state.running, tools }
  if (state.kind === "stale") removeRunning(dir, state.running.pid, "proxy")
  mkdirSync(dir, { recursive: true })
  const log = logFile(dir, "proxy")
  rotateLog(log)
  const fd = openSync(log, "a")
  const from = (() => {
    try {
      return readFileSync(log).byteLength
    } catch {
      return 0
    }
  })()
  writeSync(fd, `--- isartor proxy, started by isartor up for ${tools.join(", ")}, ${new Date().toISOString()} ---\n`)
  const [command, ...prefix] = selfCommand()
  // The gateway's environment (its --config) and the same state directory, which `up` keeps out of the gateway's.
  const child = spawn(command!, [...prefix, "proxy"], { stdio: ["ignore", fd, fd], env: { ...env, ISARTOR_HOME: dir } })
  closeSync(fd)
  const pid = child.pid!
  // It ends with the gateway (Ctrl-C reaches both; `isartor stop` signals the gateway, whose exit ends this).
  process.on("exit", () => {
    if (isAlive(pid)) child.kill("SIGTERM")
  })
  const ready = new Promise<{ running: true } | { running: false; reason: string }>((resolve) => {
    const poll = setInterval(() => {
      const now = liveness(dir, "proxy")
      if (now.kind === "running" && now.running.pid === pid) {
        clearInterval(poll)
        resolve({ running: true })
      }
    }, 100)
    poll.unref()
    child.once("exit", () => {
      clearInterval(poll)
      resolve({ running: false, reason: lastLine(log, from).replace(/^isartor( proxy)?: /, "") })
    })
    child.unref()
  })
  return { kind: "started", pid, url, tools, log, ready }
}
