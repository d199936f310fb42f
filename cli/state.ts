import { execFileSync } from "node:child_process"
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { isartorHome } from "../runtimes/home.ts"

/** Where a detached gateway keeps its pid file and log (and the gateway its usage ledger): see `isartorHome`. */
export const stateDir = (env: Record<string, string | undefined> = process.env): string => isartorHome(env)

/** What a record is of: the gateway (`isartor up`) or the CONNECT proxy (`isartor proxy`, or started by `up`). */
export type Recorded = "gateway" | "proxy"

export const pidFile = (dir: string, which: Recorded = "gateway") =>
  join(dir, which === "gateway" ? "isartor.pid" : "proxy.pid")
export const logFile = (dir: string, which: Recorded = "gateway") =>
  join(dir, which === "gateway" ? "isartor.log" : "proxy.log")

/** What `isartor up` records about the gateway it runs, for `status` and `stop`. */
export interface Running {
  readonly pid: number
  /** The URL clients use (a wildcard host is shown as 127.0.0.1). */
  readonly url: string
  readonly startedAt: number
  readonly version: string
  readonly log: string | undefined
  /** The process's command line when it started: a pid that now runs something else is not ours. */
  readonly commandLine: string | undefined
  /** The config file it was started with (--config), so `status` reads the same gateway key. */
  readonly config?: string | undefined
}

export const readRunning = (dir: string, which: Recorded = "gateway"): Running | undefined => {
  try {
    const parsed = JSON.parse(readFileSync(pidFile(dir, which), "utf8")) as Partial<Running>
    return typeof parsed.pid === "number" ? parsed as Running : undefined
  } catch {
    return undefined
  }
}

export const writeRunning = (dir: string, running: Running, which: Recorded = "gateway") => {
  mkdirSync(dir, { recursive: true })
  const partial = `${pidFile(dir, which)}.${process.pid}.tmp`
  writeFileSync(partial, JSON.stringify(running, null, 2) + "\n")
  renameSync(partial, pidFile(dir, which))
}

export const removeRunning = (dir: string, pid: number, which: Recorded = "gateway") => {
  // Only the process's own record: a newer gateway may have written the file since.
  if (readRunning(dir, which)?.pid === pid) rmSync(pidFile(dir, which), { force: true })
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to another user — alive, and certainly not ours to signal.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The command line of a process: /proc on Linux, `ps` elsewhere; undefined where neither answers (Windows). */
export const commandLineOf = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((part) => part !== "").join(" ")
  } catch {
    if (process.platform === "win32") return undefined
    try {
      return execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8", stdio: "pipe" }).trim() ||
        undefined
    } catch {
      return undefined
    }
  }
}

export type Liveness =
  | { readonly kind: "none" }
  | { readonly kind: "running"; readonly running: Running }
  | { readonly kind: "stale"; readonly running: Running; readonly why: string }

/** Whether the recorded gateway (or proxy) still runs: a dead pid, or a pid now used by another program, is stale. */
export const liveness = (dir: string, which: Recorded = "gateway"): Liveness => {
  const running = readRunning(dir, which)
  if (!running) return { kind: "none" }
  if (!alive(running.pid)) return { kind: "stale", running, why: `process ${running.pid} is gone` }
  // A container restarted with the same pid (1, say) finds its predecessor's record: that is not another gateway.
  if (running.pid === process.pid) return { kind: "stale", running, why: `pid ${running.pid} is this process` }
  const now = commandLineOf(running.pid)
  if (running.commandLine !== undefined && now !== undefined && now !== running.commandLine) {
    return { kind: "stale", running, why: `pid ${running.pid} now belongs to another program (${now.slice(0, 80)})` }
  }
  return { kind: "running", running }
}

export const isAlive = alive

/** Keeps the log from growing without end: past 10 MB it becomes isartor.log.1 (3 kept) when a gateway starts. */
export const rotateLog = (path: string, maxBytes = 10 * 1024 * 1024, keep = 3) => {
  const size = (() => {
    try {
      return statSync(path).size
    } catch {
      return 0
    }
  })()
  if (size < maxBytes) return
  rmSync(`${path}.${keep}`, { force: true })
  for (let n = keep - 1; n >= 1; n--) {
    try {
      renameSync(`${path}.${n}`, `${path}.${n + 1}`)
    } catch {
      // that generation does not exist yet
    }
  }
  renameSync(path, `${path}.1`)
}
