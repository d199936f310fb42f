import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { eventually } from "./eventually.ts"

export const projectRoot = fileURLToPath(new URL("../..", import.meta.url))

export type RuntimeName = "node" | "bun" | "deno"

/** How each runtime runs a TypeScript entrypoint: the same commands the npm scripts use. */
export const runtimeCommand = (runtime: RuntimeName, entry: string): Array<string> => {
  const bin = (name: string) => `${projectRoot}node_modules/.bin/${name}`
  if (runtime === "bun") return [bin("bun"), entry]
  if (runtime === "deno") {
    return [
      bin("deno"),
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--allow-ffi=node_modules/@img,node_modules/onnxruntime-node",
      entry
    ]
  }
  return [process.execPath, "--import", "tsx", entry]
}

export interface StartedProcess {
  readonly child: ChildProcess
  /** The URL the process printed as `… listening on <url>`. */
  readonly url: string
  readonly output: () => string
  readonly stop: () => void
}

/** Spawns a server process and waits until it prints `listening on <url>`. */
export const startProcess = async (
  command: Array<string>,
  env: Record<string, string>,
  timeoutMs = 60_000,
  ready = /listening on (http:\/\/\S+)/
): Promise<StartedProcess> => {
  // A state directory of its own (the usage ledger's file), unless the test names one: processes never share the
  // tester's ~/.local/state/isartor, nor each other's.
  const home = env.ISARTOR_HOME === undefined ? mkdtempSync(join(tmpdir(), "isartor-process-")) : undefined
  const child = spawn(command[0]!, command.slice(1), {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      ...(home === undefined ? {} : { ISARTOR_HOME: home }),
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  if (home !== undefined) child.once("exit", () => rmSync(home, { recursive: true, force: true }))
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  try {
    const match = await eventually(() => ready.exec(output), {
      what: `${command.join(" ")} to print ${ready}`,
      timeoutMs,
      intervalMs: 25,
      failFast: () => (child.exitCode === null ? undefined : `it exited with code ${child.exitCode}`)
    })
    return { child, url: match[1]!, output: () => output, stop }
  } catch (error) {
    stop()
    throw new Error(`${command.join(" ")} did not start (${(error as Error).message}):\n${output}`)
  }
}
