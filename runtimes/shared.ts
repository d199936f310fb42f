import { readFile } from "node:fs/promises"
import { GatewayStartError, type SemanticBackends } from "../core/Gateway.ts"
import { loadHnswlib } from "./embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "./embedding/inWorker.ts"

/** Reads a config file for the loader: `undefined` when it does not exist (node:fs works on all three runtimes). */
export const readTextFile = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) =>
    error.code === "ENOENT" ? undefined : Promise.reject(error)
  )

/** A start-up failure is one clear message and exit code 1; anything else keeps its stack. */
export const exitOnStartError = (error: unknown): never => {
  console.error(error instanceof GatewayStartError ? `isartor: ${error.message}` : error)
  process.exit(1)
}

export const listening = (hostname: string, port: number, runtime: string) =>
  console.log(`isartor listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port} (${runtime})`)

/**
 * L1b's model (on a worker thread) and vector library, from the installed packages. Bun and Deno run the
 * TypeScript worker as it is; Node needs the small bootstrap that registers tsx first.
 */
export const semanticBackends = (env: Record<string, string | undefined>, workerEntry?: URL): SemanticBackends => ({
  // The HF cache variables are not ISARTOR__ settings: they are read here, where the environment is.
  loadEmbedder: (choice) =>
    loadEmbedderInWorker(workerEntry, {
      ...choice,
      ...(env.ISARTOR_HF_CACHE_DIR
        ? { cacheDir: env.ISARTOR_HF_CACHE_DIR, cacheVariable: "ISARTOR_HF_CACHE_DIR" }
        : { cacheDir: env.HF_HOME ?? "", cacheVariable: "HF_HOME" })
    }),
  loadHnswlib
})
