import { homedir } from "node:os"
import { join } from "node:path"
import { jsonFormat } from "./jsonFormat.ts"
import type { FileTool } from "./tools.ts"

/** Where desktop apps keep their settings: `~/Library/Application Support`, `%APPDATA%`, or `$XDG_CONFIG_HOME`. */
export const appConfigDir = (env: Record<string, string | undefined> = process.env) => {
  const home = env.HOME || homedir()
  return process.platform === "darwin"
    ? join(home, "Library", "Application Support")
    : process.platform === "win32"
    ? env.APPDATA || join(home, "AppData", "Roaming")
    : env.XDG_CONFIG_HOME || join(home, ".config")
}

/** VS Code and its forks keep user settings in `<config>/<product>/User/settings.json` (JSON with comments). */
export const vscodeSettingsFile = (product: string, env: Record<string, string | undefined> = process.env) =>
  join(appConfigDir(env), product, "User", "settings.json")

/**
 * Copilot (in VS Code) and Antigravity (a VS Code fork) cannot change their base URL: their editor's `http.proxy`
 * sends them through `isartor proxy`. Only that key is written; the CA is trusted through NODE_EXTRA_CA_CERTS in
 * the environment the editor starts from (or the system's trust store), never by turning verification off.
 */
export const vscodeTool = (id: "copilot" | "antigravity", proxyUrl: string): FileTool => ({
  id,
  name: id === "copilot" ? "GitHub Copilot (VS Code)" : "Antigravity",
  format: jsonFormat(true),
  file: vscodeSettingsFile(id === "copilot" ? "Code" : "Antigravity"),
  settings: () => [{ path: ["http.proxy"], value: proxyUrl }],
  urlKey: ["http.proxy"],
  urlFor: () => proxyUrl
})
