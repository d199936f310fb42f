/** `isartor up --detach`: the gateway started in the background, watched until it answers or says why it stopped. */
import { spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs"
import { resolve } from "node:path"
import { VERSION } from "../core/version.ts"
import { gatewayEnv } from "./gatewayEnv.ts"
import { selfCommand } from "./host.ts"
import { clientUrl, CliFailure, formatDuration, green, progressLine, yellow } from "./output.ts"
import { commandLineOf, isAlive, liveness, logFile, removeRunning, rotateLog, writeRunning } from "./state.ts"

export interface UpOptions {
  readonly detach?: boolean
  readonly port?: number
  readonly config?: string
  readonly runtime?: string
  readonly wait?: number
  /** Set on the process `up --detach` starts: where its output goes, recorded for `status`. */
  readonly logFile?: string
}

/** The size of the file at `path`, or 0 when there is none: where this start's part of a log begins. */
const sizeOf = (path: string) => {
  try {
    return readFileSync(path).byteLength
  } catch {
    return 0
  }
}

/** Spawns `isartor up` detached, its output appended to the log open as `fd`; `exited` says whether it has ended. */
const spawnGateway = (options: UpOptions, log: string, fd: number) => {
  const args = ["up", "--log-file", log]
  if (options.port !== undefined) args.push("--port", String(options.port))
  if (options.config !== undefined) args.push("--config", options.config)
  if (options.runtime !== undefined) args.push("--runtime", options.runtime)
  const [command, ...prefix] = selfCommand()
  const child = spawn(command!, [...prefix, ...args], { detached: true, stdio: ["ignore", fd, fd], env: process.env })
  closeSync(fd)
  child.unref()
  let exited = false
  child.on("exit", () => (exited = true))
  return { pid: child.pid!, exited: () => exited }
}

type StartOutcome =
  | { readonly kind: "healthy"; readonly url: string }
  | { readonly kind: "stopped"; readonly reason: string }
  | { readonly kind: "timeout" }

/**
 * Watches the detached gateway's log (from `logStart`) until it listens and answers /healthz, stops, or `deadline`
 * passes, with a progress line meanwhile.
 */
const waitForGateway = async (
  gateway: { readonly pid: number; readonly exited: () => boolean },
  log: string,
  logStart: number,
  hostname: string,
  started: number,
  deadline: number
): Promise<StartOutcome> => {
  const progress = progressLine()
  const output = () => {
    try {
      return readFileSync(log).subarray(logStart).toString("utf8")
    } catch {
      return ""
    }
  }
  try {
    while (Date.now() < deadline) {
      const text = output()
      const listening = /listening on (http:\/\/\S+)/.exec(text)?.[1]
      if (listening) {
        const bound = new URL(listening)
        const url = clientUrl(bound.hostname.replace(/^\[|\]$/g, "") || hostname, Number(bound.port))
        if (await healthy(url)) return { kind: "healthy", url }
      }
      if (gateway.exited() || !isAlive(gateway.pid)) {
        const lines = text.trim().split("\n").filter((line) => line.trim() !== "")
        const reason = lines.filter((line) => line.startsWith("isartor:")).at(-1) ?? lines.at(-1) ?? "no output"
        return { kind: "stopped", reason: reason.replace(/^isartor: /, "") }
      }
      progress.update(
        `isartor: starting (loading the embedding model)… ${formatDuration((Date.now() - started) / 1000)}`
      )
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 200))
    }
    return { kind: "timeout" }
  } finally {
    progress.done()
  }
}

/** Starts `isartor up` in the background with its output in the log, and waits until it answers /healthz. */
export const detach = async (options: UpOptions, dir: string, hostname: string): Promise<number> => {
  mkdirSync(dir, { recursive: true })
  const log = logFile(dir)
  rotateLog(log)
  const fd = openSync(log, "a")
  const logStart = sizeOf(log)
  writeSync(fd, `--- isartor up --detach, ${new Date().toISOString()} ---\n`)
  const proxyLogStart = sizeOf(logFile(dir, "proxy"))
  const gateway = spawnGateway(options, log, fd)
  const pid = gateway.pid
  const started = Date.now()
  const deadline = started + (options.wait ?? 180) * 1000
  const outcome = await waitForGateway(gateway, log, logStart, hostname, started, deadline)
  if (outcome.kind === "healthy") {
    writeRunning(dir, {
      pid,
      url: outcome.url,
      startedAt: started,
      version: VERSION,
      log,
      commandLine: commandLineOf(pid),
      config: options.config === undefined ? undefined : resolve(options.config)
    })
    console.log(`${green("isartor is running")} at ${outcome.url} (pid ${pid})`)
    console.log(`Log: ${log}`)
    await reportProxy(dir, deadline, proxyLogStart, gatewayEnv(options))
    console.log("Stop later with: isartor stop")
    return 0
  }
  if (outcome.kind === "stopped") {
    removeRunning(dir, pid)
    throw new CliFailure(`the gateway stopped while starting: ${outcome.reason}\nLog: ${log}`)
  }
  // Nothing left running by accident: a gateway that never became ready is stopped.
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // already gone
  }
  removeRunning(dir, pid)
  throw new CliFailure(
    `the gateway did not answer /healthz within ${options.wait ?? 180} s and was stopped; Log: ${log}`
  )
}

/** After a detached start: the proxy the gateway started for connected proxy tools, once it listens (or why not). */
const reportProxy = async (
  dir: string,
  deadline: number,
  logStart: number,
  env: Record<string, string | undefined>
) => {
  const { proxyDemand } = await import("./proxy/autostart.ts")
  const { tools } = await proxyDemand(env)
  if (tools.length === 0) return
  const log = logFile(dir, "proxy")
  while (Date.now() < deadline) {
    const state = liveness(dir, "proxy")
    if (state.kind === "running") {
      console.log(`Proxy: ${state.running.url} (pid ${state.running.pid}) for ${tools.join(", ")}; log: ${log}`)
      return
    }
    const said = (() => {
      try {
        const text = readFileSync(log)
        return text.subarray(text.byteLength >= logStart ? logStart : 0).toString("utf8")
      } catch {
        return ""
      }
    })()
    const problem = /^isartor: (.*)$/m.exec(said)?.[1]
    if (problem !== undefined) {
      console.warn(yellow(`isartor: warning: the proxy for ${tools.join(", ")} did not start: ${problem}; log: ${log}`))
      return
    }
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 200))
  }
  console.warn(yellow(`isartor: warning: the proxy for ${tools.join(", ")} is not listening yet; log: ${log}`))
}

export const healthy = async (url: string) => {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}
