import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { projectRoot } from "../support/processes.ts"

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A clean user: a temporary HOME and ISARTOR_HOME, no ISARTOR_ variables of the shell running the tests. */
export const userEnv = (extra: Record<string, string> = {}) => {
  const home = mkdtempSync(join(tmpdir(), "isartor-cli-"))
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    ISARTOR_HOME: join(home, "state"),
    ...extra
  }
  return { env, home, cleanup: () => rmSync(home, { recursive: true, force: true }) }
}

/** Runs a command line (`isartor` by default, as npm installs it) and collects its output and exit code. */
export const run = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  options: { readonly command?: ReadonlyArray<string>; readonly cwd?: string } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const [command, ...prefix] = options.command ?? [process.execPath, join(projectRoot, "bin/isartor")]
    const child = spawn(command!, [...prefix, ...args], {
      cwd: options.cwd ?? env.HOME,
      env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export const chat = (url: string, content: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
  })
