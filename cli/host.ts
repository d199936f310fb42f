import { fileURLToPath } from "node:url"
import type { SemanticBackends } from "../core/Gateway.ts"

/** What the runtime running the command provides: its name, and how to serve the gateway in this process. */
export interface CommandHost {
  readonly runtime: "node" | "bun" | "deno"
  /** True in the single binary (`bun build --compile`): no checkout, no node_modules, only the built-in Bun. */
  readonly compiled: boolean
  /** Starts the gateway here from process.env (the runtime's entrypoint); resolves once it is listening. */
  readonly serve: () => Promise<unknown>
  /** L1b's model and vector library as this runtime loads them, for an in-process gateway (`isartor demo`). */
  readonly semantic: (env: Record<string, string | undefined>) => Promise<SemanticBackends>
  /** How another runtime runs the gateway from this checkout, as the npm scripts do. */
  readonly runtimeCommand: (runtime: string) => Array<string>
}

/** The single binary's modules live in Bun's embedded file system. */
export const isCompiled = () => /\$bunfs|~BUN/.test(import.meta.url)

/** How this very command is started again (for `up --detach`): the binary alone, or the runtime with its script. */
export const selfCommand = (): Array<string> =>
  isCompiled() ? [process.execPath] : [process.execPath, ...process.execArgv, process.argv[1]!]

export const projectRoot = () => fileURLToPath(new URL("..", import.meta.url))

/** The runtimes' entrypoints run from this checkout, with the flags the npm scripts give them. */
export const checkoutRuntimeCommand = (runtime: string): Array<string> => {
  const root = projectRoot()
  const bin = (name: string) => `${root}node_modules/.bin/${name}`
  if (runtime === "bun") return [bin("bun"), `${root}runtimes/bun.ts`]
  if (runtime === "deno") {
    return [
      bin("deno"),
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      "--allow-write",
      `--allow-ffi=${root}node_modules/@img,${root}node_modules/onnxruntime-node`,
      `${root}runtimes/deno.ts`
    ]
  }
  return [process.execPath, "--import", import.meta.resolve("tsx"), `${root}runtimes/node.ts`]
}
