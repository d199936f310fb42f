import { homedir } from "node:os"
import { join } from "node:path"
import { selfCommand } from "../host.ts"
import { GATEWAY_KEY_VAR, GATEWAY_URL_VAR, type GatewayTarget } from "./gateway.ts"
import { jsonFormat } from "./jsonFormat.ts"
import type { Setting } from "./settings.ts"
import type { Connector, FileTool } from "./tools.ts"
import { appConfigDir } from "./vscode.ts"

const SERVER = ["mcpServers", "isartor"]

/**
 * An `mcpServers` entry that starts `isartor mcp` over stdio, as this very command is started (an absolute path: an
 * app started from the dock has no shell's PATH), told the gateway's URL and key through its environment.
 */
const mcpEntry = (gateway: GatewayTarget): ReadonlyArray<Setting> => {
  const [command, ...args] = selfCommand()
  return [
    { path: [...SERVER, "command"], value: command },
    { path: [...SERVER, "args"], value: [...args, "mcp"] },
    { path: [...SERVER, "env", GATEWAY_URL_VAR], value: gateway.url },
    ...(gateway.key === "" ? [] : [{ path: [...SERVER, "env", GATEWAY_KEY_VAR], value: gateway.key }])
  ]
}

const mcpFile = (id: string, name: string, file: string, comments: boolean): FileTool => ({
  id,
  name,
  format: jsonFormat(comments),
  file,
  settings: mcpEntry,
  urlKey: [...SERVER, "env", GATEWAY_URL_VAR],
  urlFor: (gateway) => gateway.url
})

/** Claude Desktop's `claude_desktop_config.json` in its folder of the OS's app settings. */
export const claudeDesktopFile = (env: Record<string, string | undefined> = process.env) =>
  join(appConfigDir(env), "Claude", "claude_desktop_config.json")

/** Claude Desktop has no base-URL setting: it reaches the caches through the MCP server's tools. */
export const claudeDesktop = (): Connector => ({
  name: "Claude Desktop",
  files: [mcpFile("claude-desktop", "Claude Desktop", claudeDesktopFile(), false)],
  instructions: () => ["restart Claude Desktop: it reads its MCP servers when it starts"]
})

/**
 * Cursor reads MCP servers from `~/.cursor/mcp.json`; its model base URL is a setting of its own, kept where no file
 * reaches, and used from Cursor's servers, not this machine.
 */
export const cursor = (): Connector => ({
  name: "Cursor",
  files: [mcpFile("cursor", "Cursor", join(process.env.HOME || homedir(), ".cursor", "mcp.json"), true)],
  instructions: (gateway) => [
    "Cursor takes its model base URL only in its own settings: Cursor Settings → Models → API Keys,",
    `  "Override OpenAI Base URL": ${gateway.url}/v1${
      gateway.key === "" ? "" : `, and "OpenAI API Key": the gateway key`
    }`,
    "  Cursor sends those requests from its servers: the URL must be one they can reach (not 127.0.0.1)"
  ]
})
