import { dim, green, printJson, yellow } from "../output.ts"
import { stateDir } from "../state.ts"
import { exportLine, parseShell, PROXY_TOOL_SWITCHES, PROXY_VARS, unsetLine } from "./env.ts"
import { readSettingsFile, tildify } from "./files.ts"
import type { GatewayTarget } from "./gateway.ts"
import { connectFile, disconnectFile } from "./settings.ts"
import type { FileTool } from "./tools.ts"
import { vscodeTool } from "./vscode.ts"

/** The editor's own proxy before this connect, if it had one (a corporate proxy is replaced, not chained). */
const readEarlierProxy = (tool: FileTool) => {
  try {
    const found = readSettingsFile(tool.file)
    const value = found.text === undefined ? undefined : tool.format.parse(found.text)["http.proxy"]
    return typeof value === "string" && value !== "" ? value : undefined
  } catch {
    return undefined // connectFile says why it cannot read or parse the file
  }
}

export interface ProxyToolOptions {
  readonly disconnect?: boolean
  readonly shell?: string
  readonly json?: boolean
}

/** The proxy's URL as `isartor proxy` will listen (proxy.port), and its CA (made now if it does not exist yet). */
export const proxyTarget = async () => {
  const { configuredPort, proxyEnv } = await import("../proxy/proxy.ts")
  const { loadAuthority } = await import("../proxy/ca.ts")
  const { INTERCEPTED_HOSTS } = await import("../proxy/server.ts")
  const port = await configuredPort(undefined)
  const authority = loadAuthority(stateDir(), INTERCEPTED_HOSTS)
  return { url: `http://127.0.0.1:${port}`, env: proxyEnv(port, authority.certFile, authority.bundleFile), authority }
}

type ProxyTool = ReturnType<typeof vscodeTool>
/** The proxy tools' settings name the proxy, not the gateway. */
export const UNUSED_GATEWAY: GatewayTarget = { url: "", key: "", source: "--url", running: false, model: "" }
type ProxyTarget = Awaited<ReturnType<typeof proxyTarget>>
const say = (line: string) => console.error(line)

/** `--disconnect`: the editor's settings reverted, and on stdout the unsets of the proxy's variables. */
const disconnectProxyTool = (
  id: "copilot" | "antigravity",
  tool: ProxyTool,
  options: ProxyToolOptions,
  shell: ReturnType<typeof parseShell>
) => {
  const result = disconnectFile(tool.id, tool.format, tool.file)
  if (options.json) printJson({ tool: id, file: result.file, outcome: result.outcome, kept: result.kept })
  else {
    say(
      result.outcome === "not-connected"
        ? `${tool.name} was not connected by isartor connect (no record for ${
          tildify(result.file)
        }): settings unchanged`
        : `${green("disconnected", process.stderr)} ${tool.name}: ${tildify(result.file)} ${
          result.outcome === "removed" ? "removed (isartor connect created it)" : "has its previous http.proxy back"
        }`
    )
    process.stdout.write(unsetLine(shell, PROXY_VARS) + "\n")
  }
  return 0
}

/** What connecting did, and what the editor still needs: the proxy's CA trusted, and the proxy running. */
const sayConnected = (
  id: "copilot" | "antigravity",
  tool: ProxyTool,
  target: ProxyTarget,
  result: { readonly changed: boolean; readonly file: string },
  earlier: string | undefined
) => {
  say(
    result.changed
      ? `${green("connected", process.stderr)} ${tool.name}: "http.proxy": "${target.url}" in ${tildify(result.file)}`
      : `${tool.name} already goes through ${target.url}: ${tildify(result.file)} unchanged`
  )
  if (result.changed && earlier !== undefined && earlier !== target.url) {
    say(
      yellow(
        `warning: it replaces the editor's proxy ${earlier} while connected (isartor proxy does not chain to it)`,
        process.stderr
      )
    )
  }
  say(
    dim(
      `the editor must trust the proxy's CA: start it from a shell with NODE_EXTRA_CA_CERTS=${
        tildify(target.authority.certFile)
      } (the exports below), or add that file to this machine's trust store`,
      process.stderr
    )
  )
  say(
    yellow(
      `the proxy must run while the editor uses it: isartor up starts it beside the gateway (or run isartor proxy, port ${
        target.url.split(":").pop()
      }); undo: isartor connect ${id} --disconnect`,
      process.stderr
    )
  )
}

/**
 * `isartor connect copilot|antigravity`: the editor's `http.proxy` in its user settings, and on stdout the exports
 * for CLI tools (`eval "$(isartor connect copilot)"`); `--disconnect` reverts the settings and prints the unsets.
 * What changed goes to stderr, so stdout stays something a shell can eval.
 */
export const connectProxyTool = async (id: "copilot" | "antigravity", options: ProxyToolOptions) => {
  const shell = parseShell(options.shell)
  const target = await proxyTarget()
  const tool = vscodeTool(id, target.url)
  if (options.disconnect) return disconnectProxyTool(id, tool, options, shell)
  const earlier = readEarlierProxy(tool)
  const result = connectFile(tool.id, tool.format, tool.file, (doc) => tool.settings(UNUSED_GATEWAY, doc))
  if (options.json) {
    printJson({
      tool: id,
      file: result.file,
      changed: result.changed,
      proxy: target.url,
      env: Object.fromEntries(target.env)
    })
    return 0
  }
  sayConnected(id, tool, target, result, earlier)
  process.stdout.write(
    [...target.env, [PROXY_TOOL_SWITCHES[id], "1"] as [string, string]].map(([name, value]) =>
      exportLine(shell, name, value)
    ).join("\n") + "\n"
  )
  return 0
}
