import { spawn } from "node:child_process"
import { CONFIG_FILE_VAR } from "../core/config/Config.ts"
import { VERSION } from "../core/version.ts"
import { detach, type UpOptions } from "./detach.ts"
import { gatewayEnv, portIsFree, portTakenMessage, splitHostPort, withPort } from "./gatewayEnv.ts"
import type { CommandHost } from "./host.ts"
import { clientUrl, CliFailure, formatDuration, usageError, withProgress, yellow } from "./output.ts"
import { commandLineOf, liveness, removeRunning, stateDir, writeRunning } from "./state.ts"

export type { UpOptions }

const RUNTIMES = ["node", "bun", "deno"] as const

/** Refuses when a gateway of ours already runs, cleans a stale record, checks the port; returns the environment. */
const preflight = async (options: UpOptions, dir: string) => {
  const state = liveness(dir)
  if (state.kind === "running") {
    throw new CliFailure(
      `already running (pid ${state.running.pid}, ${state.running.url}); stop it first: isartor stop`
    )
  }
  if (state.kind === "stale") removeRunning(dir, state.running.pid)
  const { env, loaded } = await withPort(gatewayEnv(options), options.port).catch((error: Error) => {
    throw new CliFailure(error.message)
  })
  const { hostname, port } = splitHostPort(loaded.config.host_port)
  if (!(await portIsFree(hostname, port))) throw new CliFailure(await portTakenMessage(hostname, port))
  return { env, hostname, port }
}

const checkRuntime = (options: UpOptions, host: CommandHost) => {
  const runtime = options.runtime ?? host.runtime
  if (!(RUNTIMES as ReadonlyArray<string>).includes(runtime)) {
    throw usageError(`--runtime must be one of ${RUNTIMES.join(", ")} (got ${runtime})`)
  }
  if (runtime !== host.runtime && host.compiled) {
    throw usageError(
      `this is the single binary: it runs on its built-in Bun; --runtime ${runtime} needs the npm package (npx isartor up --runtime ${runtime})`
    )
  }
  return runtime as typeof RUNTIMES[number]
}

/** `isartor up`: the gateway in the foreground (Ctrl-C stops it gracefully), or `--detach`ed in the background. */
export const up = async (options: UpOptions, host: CommandHost): Promise<number> => {
  const dir = stateDir()
  const runtime = checkRuntime(options, host)
  const { env, hostname, port } = await preflight(options, dir)
  if (options.detach) return detach(options, dir, hostname)

  const url = clientUrl(hostname, port)
  const record = {
    pid: process.pid,
    url,
    startedAt: Date.now(),
    version: VERSION,
    log: options.logFile,
    commandLine: commandLineOf(process.pid),
    config: env[CONFIG_FILE_VAR]
  }
  try {
    writeRunning(dir, record)
    process.on("exit", () => removeRunning(dir, process.pid))
  } catch (error) {
    // A state directory that cannot be written costs `status` and `stop` their record, not the gateway.
    console.warn(
      `isartor: warning: cannot record this gateway in ${dir} (${
        (error as NodeJS.ErrnoException).code ?? (error as Error).message
      }); isartor status and stop will not find it; set ISARTOR_HOME to a writable directory`
    )
  }
  await proxyForConnectedTools(dir, env)
  if (runtime !== host.runtime) return runElsewhere(runtime, env, host)
  // The gateway reads process.env: hand it the environment --config and --port shaped.
  for (const name of Object.keys(process.env)) if (!(name in env)) delete process.env[name]
  Object.assign(process.env, env)
  await withProgress((secs) => `isartor: starting (loading the embedding model)… ${formatDuration(secs)}`, host.serve)
  // The runtime serves until SIGINT/SIGTERM, then exits by itself.
  return new Promise<number>(() => undefined)
}

/**
 * With Copilot or Antigravity connected (their editor goes through the proxy), the proxy starts beside the gateway
 * and ends with it; its readiness is reported when it comes, without holding up the gateway's start.
 */
const proxyForConnectedTools = async (dir: string, env: Record<string, string | undefined>) => {
  const { startProxyForTools } = await import("./proxy/autostart.ts")
  const started = await startProxyForTools(dir, env).catch((error: Error) => {
    console.warn(yellow(`isartor: warning: cannot start the proxy: ${error.message}`))
    return undefined
  })
  if (started === undefined || started.kind === "not-needed") return
  if (started.kind === "already") {
    console.log(`isartor: the proxy for ${started.tools.join(", ")} already runs at ${started.running.url}`)
    return
  }
  console.log(`isartor: starting the proxy for ${started.tools.join(", ")} (log: ${started.log})`)
  void started.ready.then((ready) =>
    ready.running
      ? console.log(`isartor: proxy on ${started.url} (pid ${started.pid}) for ${started.tools.join(", ")}`)
      : console.warn(
        yellow(
          `isartor: warning: the proxy for ${started.tools.join(", ")} stopped: ${ready.reason}; see ${started.log}`
        )
      )
  )
}

/** --runtime other than the one running the command: that runtime's entrypoint, as the npm scripts start it. */
const runElsewhere = (runtime: string, env: Record<string, string | undefined>, host: CommandHost) =>
  new Promise<number>((resolvePromise) => {
    const [command, ...args] = host.runtimeCommand(runtime)
    const child = spawn(command!, args, { env, stdio: "inherit" })
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
    process.on("SIGINT", forward("SIGINT"))
    process.on("SIGTERM", forward("SIGTERM"))
    child.on("exit", (code, signal) => resolvePromise(code ?? (signal ? 1 : 0)))
    child.on("error", (error) => {
      console.error(`isartor: cannot start ${runtime}: ${error.message}`)
      resolvePromise(1)
    })
  })
