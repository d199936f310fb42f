import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import { CONFIG_FILE_VAR, loadConfig, type LoadedConfig } from "../core/config/Config.ts"
import { freePortAfter, portIsFree } from "../runtimes/ports.ts"
import { commandLineOf } from "./state.ts"

/** Variables only the command reads: kept out of the gateway's environment. */
const COMMAND_ONLY_VARS = ["ISARTOR_UPDATE_REGISTRY", "ISARTOR_UPDATE_RELEASES"]
/**
 * Variables the command reads that are not gateway settings. ISARTOR_HOME is the gateway's too (its usage ledger
 * lives there), so it reaches the gateway.
 */
export const COMMAND_VARS = ["ISARTOR_HOME", ...COMMAND_ONLY_VARS]

export interface GatewayOptions {
  readonly port?: number | undefined
  readonly config?: string | undefined
}

/** The environment the gateway will see: the shell's, with --config and --port applied. */
export const gatewayEnv = (options: GatewayOptions, env: NodeJS.ProcessEnv = process.env) => {
  const out: Record<string, string | undefined> = { ...env }
  for (const name of COMMAND_ONLY_VARS) delete out[name]
  if (options.config !== undefined) out[CONFIG_FILE_VAR] = resolve(options.config)
  return out
}

/** As the runtimes read a config file (runtimes/shared.ts), without loading the whole gateway to get it. */
const readTextFile = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? undefined : Promise.reject(error)
  )

/** Loads the configuration exactly as the gateway will (file, then ISARTOR__ variables); rejects with its message. */
export const effectiveConfig = async (env: Record<string, string | undefined>): Promise<LoadedConfig> =>
  Effect.runPromise(
    loadConfig({ env, readTextFile }).pipe(
      Effect.mapError((error) => new Error(error.message))
    )
  )

export const splitHostPort = (hostPort: string) => {
  const separator = hostPort.lastIndexOf(":")
  return { hostname: hostPort.slice(0, separator).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(separator + 1)) }
}

/** Applies --port to the environment: the configured host, the given port. */
export const withPort = async (env: Record<string, string | undefined>, port: number | undefined) => {
  const loaded = await effectiveConfig(env)
  if (port === undefined) return { env, loaded }
  const { hostname } = splitHostPort(loaded.config.host_port)
  const hostPort = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`
  const next: Record<string, string | undefined> = { ...env, ISARTOR__HOST_PORT: hostPort }
  return { env: next, loaded: await effectiveConfig(next) }
}

export { portIsFree }

/** Which process listens on a TCP port, when this machine can say: /proc on Linux, else `lsof`. */
export const listenerOf = (port: number): { pid: number; command: string } | undefined => {
  const hex = port.toString(16).toUpperCase().padStart(4, "0")
  const inodes = new Set<string>()
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = ""
    try {
      text = readFileSync(table, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/)
      // local_address is fields[1] (addr:PORT), st is fields[3] (0A = LISTEN), inode is fields[9]
      if (fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A" && fields[9]) inodes.add(fields[9])
    }
  }
  if (inodes.size > 0) {
    for (const entry of readdirSafe("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      for (const fd of readdirSafe(`/proc/${entry}/fd`)) {
        let target = ""
        try {
          target = readlinkSync(`/proc/${entry}/fd/${fd}`)
        } catch {
          continue
        }
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
        if (inode && inodes.has(inode)) {
          const pid = Number(entry)
          return { pid, command: commandLineOf(pid) ?? "?" }
        }
      }
    }
    return undefined
  }
  try {
    const pid = Number(
      execFileSync("lsof", ["-nP", `-iTCP:${port}`, "-sTCP:LISTEN", "-t"], { encoding: "utf8", stdio: "pipe" })
        .split("\n")[0]
    )
    return pid > 0 ? { pid, command: commandLineOf(pid) ?? "?" } : undefined
  } catch {
    return undefined
  }
}

const readdirSafe = (path: string) => {
  try {
    return readdirSync(path)
  } catch {
    return []
  }
}

/**
 * The one line a taken port ends with: which port, who holds it when known, and the variable that moves it — to a
 * port that is free now, when one of the next few is.
 */
export const portTakenMessage = async (hostname: string, port: number) => {
  const holder = listenerOf(port)
  const by = holder ? ` by pid ${holder.pid} (${holder.command.slice(0, 80)})` : ""
  const next = await freePortAfter(hostname, port)
  const host = hostname.includes(":") ? `[${hostname}]` : hostname
  return `port ${port} on ${hostname} is already in use${by}; stop that process, or choose another port: ` +
    (next === undefined
      ? `isartor up --port <port>, or ISARTOR__HOST_PORT=${host}:<port>`
      : `isartor up --port ${next}, or ISARTOR__HOST_PORT=${host}:${next} (free now)`)
}
