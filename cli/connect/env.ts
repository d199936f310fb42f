import { usageError } from "../output.ts"
import { CODEX_KEY_VAR } from "./codex.ts"
import { GATEWAY_URL_VAR, type GatewayTarget } from "./gateway.ts"

export const SHELLS = ["bash", "zsh", "fish", "powershell"] as const
export type Shell = (typeof SHELLS)[number]

/** The switch each proxy tool's connect exports (`isartor connect copilot` prints `ISARTOR_COPILOT_ENABLED=1`). */
export const PROXY_TOOL_SWITCHES = {
  copilot: "ISARTOR_COPILOT_ENABLED",
  antigravity: "ISARTOR_ANTIGRAVITY_ENABLED"
} as const

export const PROXY_SERVER_VARS = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"]
export const CA_BUNDLE_VARS = ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"]

/** What the guide's FAQ unsets after a proxy session, one `unset` line each: the proxy, the CA bundles, the switches. */
export const PROXY_CLEANUP: ReadonlyArray<ReadonlyArray<string>> = [
  PROXY_SERVER_VARS,
  CA_BUNDLE_VARS,
  Object.values(PROXY_TOOL_SWITCHES)
]
export const PROXY_VARS = PROXY_CLEANUP.flat()

/** The FAQ's clean-up as a POSIX shell runs it, one line per group. */
export const proxyCleanupLines = () => PROXY_CLEANUP.map((names) => `unset ${names.join(" ")}`)

/**
 * The single-underscore ISARTOR_ variables `isartor connect` reads or exports for client tools: not gateway settings,
 * so never the one-underscore mistake.
 */
export const CONNECT_VARS: ReadonlyArray<string> = [
  GATEWAY_URL_VAR,
  CODEX_KEY_VAR,
  ...Object.values(PROXY_TOOL_SWITCHES)
]

/** The variables `connect env` sets for any OpenAI or Anthropic SDK. */
export const envSettings = (gateway: GatewayTarget): Array<[string, string]> => [
  ["OPENAI_BASE_URL", `${gateway.url}/v1`],
  ["ANTHROPIC_BASE_URL", gateway.url],
  ...(gateway.key === ""
    ? []
    : ([["OPENAI_API_KEY", gateway.key], ["ANTHROPIC_API_KEY", gateway.key], [CODEX_KEY_VAR, gateway.key]] as Array<
      [string, string]
    >))
]

export const defaultShell = (env: Record<string, string | undefined> = process.env): Shell => {
  if (process.platform === "win32" && !env.SHELL) return "powershell"
  const name = (env.SHELL ?? "").split("/").pop() ?? ""
  return name === "zsh" || name === "fish" ? name : "bash"
}

export const parseShell = (value: string | undefined): Shell => {
  if (value === undefined) return defaultShell()
  if ((SHELLS as ReadonlyArray<string>).includes(value)) return value as Shell
  throw usageError(`--shell must be one of ${SHELLS.join(", ")}`)
}

const quoted = (shell: Shell, value: string) =>
  shell === "powershell"
    ? `'${value.replace(/'/g, "''")}'`
    : shell === "fish"
    ? `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
    : `'${value.replace(/'/g, "'\\''")}'`

export const exportLine = (shell: Shell, name: string, value: string) =>
  shell === "fish"
    ? `set -gx ${name} ${quoted(shell, value)}`
    : shell === "powershell"
    ? `$env:${name} = ${quoted(shell, value)}`
    : `export ${name}=${quoted(shell, value)}`

export const unsetLine = (shell: Shell, names: ReadonlyArray<string>) =>
  shell === "fish"
    ? `set -e ${names.join(" ")}`
    : shell === "powershell"
    ? names.map((name) => `Remove-Item Env:${name} -ErrorAction SilentlyContinue`).join("\n")
    : `unset ${names.join(" ")}`

/** Unset only when it still holds the gateway key: a key of the user's own is not this command's to remove. */
const unsetIfEquals = (shell: Shell, name: string, value: string) =>
  shell === "fish"
    ? `if test "$${name}" = ${quoted(shell, value)}; set -e ${name}; end`
    : shell === "powershell"
    ? `if ($env:${name} -eq ${quoted(shell, value)}) { Remove-Item Env:${name} }`
    : `if [ "\${${name}-}" = ${quoted(shell, value)} ]; then unset ${name}; fi`

/** `eval "$(isartor connect env)"`: the exports; with `disconnect`, the unsets (and the FAQ's proxy clean-up). */
export const envScript = (gateway: GatewayTarget, shell: Shell, disconnect: boolean): string => {
  const settings = envSettings(gateway)
  const comment = (text: string) => `# ${text}`
  if (!disconnect) {
    return [
      comment(
        `Isartor at ${gateway.url}: ${
          shell === "powershell"
            ? "isartor connect env --shell powershell | Out-String | Invoke-Expression"
            : shell === "fish"
            ? "isartor connect env --shell fish | source"
            : `eval "$(isartor connect env${shell === "bash" ? "" : ` --shell ${shell}`})"`
        }`
      ),
      ...settings.map(([name, value]) => exportLine(shell, name, value)),
      ...(gateway.key === ""
        ? [comment("no gateway key is configured: each SDK still needs its own key variable set (any value will do)")]
        : [])
    ].join("\n") + "\n"
  }
  const keys = settings.filter(([name]) => name.endsWith("_KEY"))
  return [
    comment("undo isartor connect env, and the proxy variables of a proxy session"),
    unsetLine(shell, ["OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"]),
    ...keys.map(([name, value]) => unsetIfEquals(shell, name, value)),
    unsetLine(shell, PROXY_VARS)
  ].join("\n") + "\n"
}
