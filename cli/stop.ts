import { green, printJson, yellow } from "./output.ts"
import { isAlive, liveness, removeRunning, stateDir } from "./state.ts"

export interface StopOptions {
  /** Seconds the graceful shutdown may take before SIGKILL. */
  readonly timeout?: number
  readonly json?: boolean
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * `isartor stop`: SIGTERM to the recorded gateway, which stops accepting and lets in-flight requests finish; SIGKILL
 * with a warning if it has not exited in time. A stale record is removed and nothing is signalled.
 */
export const stop = async (options: StopOptions): Promise<number> => {
  const dir = stateDir()
  const state = liveness(dir)
  const report = (result: Record<string, unknown>, line: string) => {
    if (options.json) printJson(result)
    else console.log(line)
  }
  if (state.kind === "none") {
    report({ stopped: false, running: false }, "isartor is not running (nothing to stop)")
    return 0
  }
  if (state.kind === "stale") {
    removeRunning(dir, state.running.pid)
    report(
      { stopped: false, running: false, stale: state.why },
      `isartor is not running: removed a stale pid file (${state.why}); nothing was stopped`
    )
    return 0
  }
  const { pid } = state.running
  process.kill(pid, "SIGTERM")
  const timeoutMs = (options.timeout ?? 30) * 1000
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  let killed = false
  if (isAlive(pid)) {
    console.error(
      yellow(`isartor: warning: pid ${pid} did not stop within ${timeoutMs / 1000} s; killing it`, process.stderr)
    )
    // The whole process group of a detached gateway (a runtime it started with --runtime included), else the pid.
    try {
      if (process.platform === "win32") throw new Error("no process groups")
      process.kill(-pid, "SIGKILL")
    } catch {
      process.kill(pid, "SIGKILL")
    }
    killed = true
    while (isAlive(pid)) await sleep(50)
  }
  removeRunning(dir, pid)
  report({ stopped: true, pid, killed }, `${green("isartor stopped")} (pid ${pid}${killed ? ", killed" : ""})`)
  return 0
}
