import { green, printJson, yellow } from "./output.ts"
import { isAlive, liveness, type Recorded, removeRunning, stateDir } from "./state.ts"

export interface StopOptions {
  /** Seconds the graceful shutdown may take before SIGKILL. */
  readonly timeout?: number
  readonly json?: boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type Outcome =
  | { readonly stopped: false; readonly running: false; readonly stale?: string }
  | { readonly stopped: true; readonly pid: number; readonly killed: boolean }

/** SIGTERM to a recorded process, SIGKILL (with a warning) if it has not exited in time; a stale record is removed. */
const stopRecorded = async (dir: string, which: Recorded, timeoutMs: number): Promise<Outcome> => {
  const state = liveness(dir, which)
  if (state.kind === "none") return { stopped: false, running: false }
  if (state.kind === "stale") {
    removeRunning(dir, state.running.pid, which)
    return { stopped: false, running: false, stale: state.why }
  }
  const { pid } = state.running
  process.kill(pid, "SIGTERM")
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  let killed = false
  if (isAlive(pid)) {
    const what = which === "gateway" ? "" : "the proxy's "
    console.error(
      yellow(
        `isartor: warning: ${what}pid ${pid} did not stop within ${timeoutMs / 1000} s; killing it`,
        process.stderr
      )
    )
    // The whole process group of a detached gateway (a runtime it started with --runtime included), else the pid.
    try {
      if (process.platform === "win32" || which === "proxy") throw new Error("no process group of its own")
      process.kill(-pid, "SIGKILL")
    } catch {
      process.kill(pid, "SIGKILL")
    }
    killed = true
    while (isAlive(pid)) await sleep(50)
  }
  removeRunning(dir, pid, which)
  return { stopped: true, pid, killed }
}

/**
 * `isartor stop`: the recorded gateway, which stops accepting and lets in-flight requests finish, then the proxy
 * (`isartor up` started it for a connected proxy tool, or `isartor proxy` runs alone). A stale record is removed
 * and nothing is signalled.
 */
export const stop = async (options: StopOptions): Promise<number> => {
  const dir = stateDir()
  const timeoutMs = (options.timeout ?? 30) * 1000
  const gateway = await stopRecorded(dir, "gateway", timeoutMs)
  // The gateway's exit ends a proxy it started; one started alone (or left behind) is stopped here.
  const proxy = await stopRecorded(dir, "proxy", timeoutMs)
  if (options.json) {
    printJson({ ...gateway, proxy })
    return 0
  }
  if (gateway.stopped) {
    console.log(`${green("isartor stopped")} (pid ${gateway.pid}${gateway.killed ? ", killed" : ""})`)
  } else if (gateway.stale !== undefined) {
    console.log(`isartor is not running: removed a stale pid file (${gateway.stale}); nothing was stopped`)
  } else console.log("isartor is not running (nothing to stop)")
  if (proxy.stopped) {
    console.log(`${green("isartor proxy stopped")} (pid ${proxy.pid}${proxy.killed ? ", killed" : ""})`)
  } else if (proxy.stale !== undefined) console.log(`removed the proxy's stale pid file (${proxy.stale})`)
  return 0
}
