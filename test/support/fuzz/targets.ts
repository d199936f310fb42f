// The gateways under test: open, secured and semantic, on one fake OpenAI upstream, served in this process (Node) or
// each by a runtime's own server in a process of its own (Bun, Deno).
import { once } from "node:events"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { startFakeOpenAI } from "../fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../gateway.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "../processes.ts"
import { inThisProcessReach, type Reach } from "./generate.ts"
import { FUZZ_GATEWAY_KEY, FUZZ_MAX_BODY_BYTES, type Target } from "./request.ts"

/** A gateway under test, served in this process or by a runtime's own server in a process of its own. */
export interface FuzzGateway {
  readonly url: string
  /** The gateway's own `fetch`, when it runs in this process; a gateway in another process is reached by socket only. */
  readonly fetch: RunningGateway["gateway"]["fetch"] | undefined
  /** Hands `listener` what the gateway logs, a line (or, from a process, a chunk of its output) at a time. */
  readonly onLog: (listener: (text: string) => void) => void
  /** The process serving it, when it is not this one. */
  readonly process: {
    readonly pid: number
    /** How it ended (`code 1`, `SIGSEGV`), or undefined while it runs. */
    readonly exited: () => string | undefined
    readonly onExit: (listener: () => void) => void
    readonly output: () => string
  } | undefined
  close(): Promise<void>
}

export interface FuzzTargets {
  /** `node`: the gateways run in this process (most requests through their `fetch`); `bun`, `deno`: each runs
   * in a process of its own on that runtime's server, every request over a socket. */
  readonly runtime: RuntimeName
  readonly reach: Reach
  readonly gateways: Partial<Record<Target, FuzzGateway>>
  close(): Promise<void>
}

const reachOn: Record<RuntimeName, Reach> = {
  node: inThisProcessReach,
  // Bun's server closes the connection on a method it does not know (FOO): no answer at all, not even a 400, and
  // the gateway never sees the request.
  bun: { inProcess: false, unparsedMethods: ["FOO"] },
  deno: { inProcess: false, unparsedMethods: [] }
}

const inThisProcess = (running: RunningGateway): FuzzGateway => ({
  url: running.url,
  fetch: running.gateway.fetch,
  onLog: (listener) => {
    const push = running.warnings.push.bind(running.warnings)
    running.warnings.push = (...lines: Array<string>) => (lines.forEach(listener), push(...lines))
  },
  process: undefined,
  close: () => running.close()
})

const inItsOwnProcess = async (runtime: RuntimeName, env: Record<string, string>): Promise<FuzzGateway> => {
  const started = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ...env
  })
  const { child } = started
  const exited = () =>
    child.exitCode === null && child.signalCode === null
      ? undefined
      : child.signalCode ?? `code ${child.exitCode}`
  return {
    url: started.url,
    fetch: undefined,
    onLog: (listener) => {
      for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (chunk: Buffer) => listener(String(chunk)))
    },
    process: { pid: child.pid!, exited, onExit: (listener) => child.once("exit", listener), output: started.output },
    close: async () => {
      if (exited() !== undefined) return
      const gone = once(child, "exit")
      started.stop()
      await gone
    }
  }
}

/**
 * A fake OpenAI upstream in this process and a gateway per target, each listening on loopback: `open` (no gateway
 * key), `secured` (a gateway key, so the Authorization variants matter) and, with `semantic`, `semantic` (L1b on the
 * real model). On `bun` and `deno` each gateway is `runtimes/<runtime>.ts` in a process of its own, which loads its
 * runtime's own L1b backends: there `semantic` only says whether to start that gateway.
 */
export const startFuzzTargets = async (
  options: { readonly runtime?: RuntimeName; readonly semantic?: SemanticBackends | undefined } = {}
): Promise<FuzzTargets> => {
  const runtime = options.runtime ?? "node"
  const upstream = await startFakeOpenAI({ record: false })
  const env = upstreamEnv(upstream.url, {
    ISARTOR__MAX_BODY_BYTES: String(FUZZ_MAX_BODY_BYTES),
    ISARTOR__L3_MAX_RETRIES: "0",
    ISARTOR__L3_TIMEOUT_SECS: "10"
  })
  const start = (extra: Record<string, string>) =>
    runtime === "node"
      ? startTestGateway({ ...env, ...extra }).then(inThisProcess)
      : inItsOwnProcess(runtime, { ...env, ...extra })
  const gateways: Partial<Record<Target, FuzzGateway>> = {}
  try {
    gateways.open = await start({ ISARTOR__CACHE_MODE: "exact" })
    gateways.secured = await start({ ISARTOR__CACHE_MODE: "exact", ISARTOR__GATEWAY_API_KEY: FUZZ_GATEWAY_KEY })
    if (options.semantic) {
      gateways.semantic = runtime === "node"
        ? inThisProcess(await startTestGateway(env, {}, options.semantic))
        : await inItsOwnProcess(runtime, env)
    }
  } catch (error) {
    await Promise.all(Object.values(gateways).map((gateway) => gateway.close()))
    await upstream.close()
    throw error
  }
  return {
    runtime,
    reach: reachOn[runtime],
    gateways,
    close: async () => {
      await Promise.all(Object.values(gateways).map((gateway) => gateway.close()))
      await upstream.close()
    }
  }
}
