import type { AppConfigShape } from "../../core/config/ConfigSpec.ts"
import { VERSION } from "../../core/version.ts"
import { tildify } from "../connect/files.ts"
import type { CommandHost } from "../host.ts"
import { bold, CliFailure, dim, yellow } from "../output.ts"
import { commandLineOf, liveness, removeRunning, stateDir, writeRunning } from "../state.ts"
import { type Authority, loadAuthority } from "./ca.ts"
import type { ProxyGateway } from "./gateway.ts"
import { entryOf, hostsOfUrls, parseHostRule, PROVIDER_HOSTS } from "./policy.ts"
import { coveredBy, INTERCEPTED_HOSTS, type ProxyOptions, type RunningProxy, startProxy } from "./server.ts"

export interface ProxyCommandOptions {
  readonly port?: number
  readonly rotateCa?: boolean
}

/** The variables a tool's shell needs to go through the proxy and trust its CA (the FAQ's list). */
export const proxyEnv = (port: number, certFile: string, bundleFile: string): Array<[string, string]> => [
  ["HTTPS_PROXY", `http://127.0.0.1:${port}`],
  ["NODE_EXTRA_CA_CERTS", certFile],
  ["SSL_CERT_FILE", bundleFile],
  ["REQUESTS_CA_BUNDLE", bundleFile]
]

/** The port: --port, else proxy.port from the configuration (ISARTOR__PROXY__PORT), else 8081. */
export const configuredPort = async (port: number | undefined) => {
  if (port !== undefined) return port
  const { effectiveConfig, gatewayEnv } = await import("../gatewayEnv.ts")
  return effectiveConfig(gatewayEnv({})).then(
    (loaded) => loaded.config.proxy.port,
    (error: Error) => Promise.reject(new CliFailure(`the configuration does not load: ${error.message}`))
  )
}

/** Refuses to start a second proxy; forgets the record of one that is gone. */
const claimState = (dir: string) => {
  const earlier = liveness(dir, "proxy")
  if (earlier.kind === "running") {
    throw new CliFailure(
      `isartor proxy already runs (pid ${earlier.running.pid}, ${earlier.running.url}); stop it first: isartor stop`
    )
  }
  if (earlier.kind === "stale") removeRunning(dir, earlier.running.pid, "proxy")
}

/** proxy.allow_hosts, checked, and the providers' hosts: the built-in ones and the configured providers' own. */
const hostsOf = (config: AppConfigShape) => {
  const allowHosts = config.proxy.allow_hosts
  const invalid = allowHosts.filter((entry) => parseHostRule(entry) === undefined)
  if (invalid.length > 0) {
    throw new CliFailure(
      `proxy.allow_hosts (ISARTOR__PROXY__ALLOW_HOSTS) takes host or host:port entries, not: ${invalid.join(", ")}`
    )
  }
  // The configured providers' own endpoints are theirs too (an inside address still only when listed).
  const configuredUrls = [config.external_llm_url, ...Object.values(config.providers).map((provider) => provider.url)]
  const providerHosts = [
    ...PROVIDER_HOSTS,
    ...hostsOfUrls(configuredUrls.filter((url) => url !== "")).map((rule) => entryOf(rule.host, rule.port!))
  ]
  return { allowHosts, providerHosts }
}

/** The gateway `isartor up` runs, in this process, with what `up` hands it (Redis, the ledger's file, L2's engine). */
const gatewayHere = async (
  env: Record<string, string | undefined>,
  config: AppConfigShape,
  host: CommandHost,
  log: (line: string) => void
) => {
  const { startProxyGateway } = await import("./gateway.ts")
  const { gatewayServices } = await import("../../runtimes/shared.ts")
  return startProxyGateway({
    env,
    gateway: {
      ...gatewayServices(env),
      log: { info: () => {}, warn: log },
      ...(config.cache_mode === "exact" ? {} : { semantic: await host.semantic(env) })
    }
  })
}

/** The proxy listening, or a failure that says why (a taken port names the settings that move it). */
const listenOrFail = async (options: ProxyOptions, gateway: ProxyGateway) => {
  try {
    return await startProxy({ ...options, gateway })
  } catch (error) {
    await gateway.close()
    const code = (error as NodeJS.ErrnoException).code
    throw new CliFailure(
      code === "EADDRINUSE"
        ? `127.0.0.1:${options.port} is taken (the L2 sidecar's default port is 8081 too): isartor proxy --port N, or ISARTOR__PROXY__PORT`
        : `cannot listen on 127.0.0.1:${options.port}: ${(error as Error).message}`
    )
  }
}

/** Its record, for `isartor status`, `stop` and `doctor` (and for `isartor up`, which waits for it). */
const recordRunning = (dir: string, url: string, log: (line: string) => void) => {
  const record = {
    pid: process.pid,
    url,
    startedAt: Date.now(),
    version: VERSION,
    log: undefined,
    commandLine: commandLineOf(process.pid)
  }
  try {
    writeRunning(dir, record, "proxy")
    process.on("exit", () => removeRunning(dir, process.pid, "proxy"))
  } catch (error) {
    log(`cannot record this proxy in ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
}

/** What it reads, tunnels and refuses, where its CA is, and the exports a tool's shell needs. */
const printStarted = (
  running: RunningProxy,
  authority: Authority,
  config: AppConfigShape,
  rotated: boolean
) => {
  const allowHosts = config.proxy.allow_hosts
  console.log(`isartor proxy on ${bold(running.url)}${rotated ? " with a new CA" : ""}`)
  const read = coveredBy(authority, INTERCEPTED_HOSTS)
  console.log(`  reads: ${read.join(", ")} (and their subdomains)`)
  console.log(
    `  tunnels, unread: the providers' other hosts${
      allowHosts.length > 0 ? ` and ${allowHosts.join(", ")}` : ""
    }; refuses any other host, and inside addresses unless listed (proxy.allow_hosts)`
  )
  const unread = INTERCEPTED_HOSTS.filter((name) => !read.includes(name))
  if (unread.length > 0) {
    console.log(
      yellow(`  not read: ${unread.join(", ")} (the CA predates them): isartor proxy --rotate-ca reads them too`)
    )
  }
  console.log(
    `  chat requests (OpenAI, Anthropic Messages, Gemini): cache ${config.cache_mode}${
      config.enable_slm_router ? ", L2 router" : ""
    }, then the original host with the client's own credentials`
  )
  console.log(`  CA: ${tildify(authority.certFile)} (its key stays in ${tildify(stateDir())}/proxy, owner only)`)
  console.log(dim("  in the tool's shell:"))
  for (const [name, value] of proxyEnv(running.port, authority.certFile, authority.bundleFile)) {
    console.log(`  export ${name}=${value}`)
  }
}

/** `isartor proxy`: the local CONNECT proxy in the foreground until Ctrl-C; `--rotate-ca` replaces the CA first. */
export const proxy = async (options: ProxyCommandOptions, host: CommandHost): Promise<number> => {
  const dir = stateDir()
  claimState(dir)
  const port = await configuredPort(options.port)
  const authority = loadAuthority(dir, INTERCEPTED_HOSTS, options.rotateCa === true)
  const log = (line: string) => console.error(dim(`isartor proxy: ${line}`, process.stderr))
  const { effectiveConfig, gatewayEnv } = await import("../gatewayEnv.ts")
  const env = gatewayEnv({})
  const config = (await effectiveConfig(env)).config
  const hosts = hostsOf(config)
  const gateway = await gatewayHere(env, config, host, log)
  const running = await listenOrFail({ port, authority, log, ...hosts }, gateway)
  // Listening for Ctrl-C / SIGTERM before saying where it listens: a caller may signal as soon as it reads that.
  // `on`, not `once`: a second signal while it closes (Ctrl-C twice, `isartor stop` after the gateway's exit) is
  // not the default action that would kill it before it removes its record.
  const stopped = new Promise<void>((resolve) => {
    process.on("SIGINT", () => resolve())
    process.on("SIGTERM", () => resolve())
  })
  recordRunning(dir, running.url, log)
  printStarted(running, authority, config, options.rotateCa === true)
  await stopped
  await running.close()
  await gateway.close()
  removeRunning(dir, process.pid, "proxy")
  return 0
}
