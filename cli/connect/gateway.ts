import { Redacted } from "effect"
import { clientUrl, CliFailure } from "../output.ts"
import { liveness, stateDir } from "../state.ts"

/** Where the gateway is when none runs here and no --url is given (also read by isartor cache). */
export const GATEWAY_URL_VAR = "ISARTOR_URL"

/** The variable a tool's config names for the gateway key (Codex's env_key, opencode's `{env:…}`, `isartor mcp`). */
export const GATEWAY_KEY_VAR = "ISARTOR_API_KEY"

/** Warns when the variable a tool's config names for the key does not hold it in this shell. */
export const keyVarWarning = (tool: string, gateway: GatewayTarget): ReadonlyArray<string> =>
  gateway.key !== "" && process.env[GATEWAY_KEY_VAR] !== gateway.key
    ? [
      `${tool} reads the gateway key from ${GATEWAY_KEY_VAR}: export it in the shell that runs it (eval "$(isartor connect env)" does)`
    ]
    : []

/** external_llm_model's default, for a configuration that cannot be read. */
const DEFAULT_MODEL = "gpt-4o-mini"

export interface GatewayOptions {
  readonly url?: string
  readonly key?: string
}

/** Where tools should send their requests, and the gateway key they must present (empty: none configured). */
export interface GatewayTarget {
  /** The root URL, no trailing slash (Anthropic clients add `/v1/messages`, OpenAI clients get `${url}/v1`). */
  readonly url: string
  readonly key: string
  /** Where the URL came from, for the message. */
  readonly source: "--url" | "running" | typeof GATEWAY_URL_VAR | "configuration"
  readonly running: boolean
  /** The model the gateway asks for when a request names none: a tool that must name one gets it when it has none. */
  readonly model: string
}

const normalise = (url: string) => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new CliFailure(`--url ${url} is not a URL (expected http://host:port)`, 2)
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliFailure(`--url ${url} is not an http(s) URL`, 2)
  }
  return `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, "").replace(/\/v1$/, "")
}

/**
 * `--url`, else the gateway running here (its state directory), else `ISARTOR_URL`, else where the configuration
 * says it will listen; the key: `--key`, else the gateway's configuration (the running one's config file).
 */
export const resolveGateway = async (options: GatewayOptions): Promise<GatewayTarget> => {
  const state = liveness(stateDir())
  const running = state.kind === "running" ? state.running : undefined
  const { effectiveConfig, gatewayEnv } = await import("../gatewayEnv.ts")
  const loaded = await effectiveConfig(gatewayEnv({ config: running?.config })).catch(() => undefined)
  const key = options.key ?? (loaded ? Redacted.value(loaded.config.gateway_api_key) : "")
  const model = loaded?.config.external_llm_model || DEFAULT_MODEL
  if (options.url !== undefined) return { url: normalise(options.url), key, source: "--url", running: false, model }
  if (running) return { url: normalise(running.url), key, source: "running", running: true, model }
  const fromEnv = process.env[GATEWAY_URL_VAR]
  if (fromEnv) {
    return { url: normalise(fromEnv), key, source: GATEWAY_URL_VAR, running: false, model }
  }
  const { splitHostPort } = await import("../gatewayEnv.ts")
  const { hostname, port } = splitHostPort(loaded?.config.host_port ?? "0.0.0.0:8080")
  return { url: clientUrl(hostname, port), key, source: "configuration", running: false, model }
}
