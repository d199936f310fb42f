import { homedir } from "node:os"
import { join } from "node:path"
import { jsonFormat } from "./jsonFormat.ts"
import { getPath } from "./settings.ts"
import type { Connector, FileTool } from "./tools.ts"

/**
 * Claude Code reads `env` from its settings and applies it to every session: `~/.claude/settings.json`
 * (`$CLAUDE_CONFIG_DIR/settings.json`), or with `--project` the project's `.claude/settings.local.json` — the
 * project file Claude Code keeps out of git, since a loopback URL and a key are this machine's, not the team's.
 */
export const claudeFile = (
  project: boolean,
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd()
) =>
  project
    ? join(cwd, ".claude", "settings.local.json")
    : join(env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), ".claude"), "settings.json")

export const claude = (project: boolean): Connector => ({
  name: project ? "Claude Code (this project)" : "Claude Code",
  files: [claudeSettings(project)]
})

export const claudeSettings = (project: boolean): FileTool => ({
  id: project ? "claude-project" : "claude",
  name: project ? "Claude Code (this project)" : "Claude Code",
  format: jsonFormat(false),
  file: claudeFile(project),
  settings: (gateway) => [
    { path: ["env", "ANTHROPIC_BASE_URL"], value: gateway.url },
    ...(gateway.key === "" ? [] : [{ path: ["env", "ANTHROPIC_AUTH_TOKEN"], value: gateway.key }])
  ],
  urlKey: ["env", "ANTHROPIC_BASE_URL"],
  urlFor: (gateway) => gateway.url,
  warnings: (doc, gateway) => {
    // Claude Code sends ANTHROPIC_API_KEY as X-API-Key, which the gateway reads before Authorization.
    if (gateway.key === "") return []
    const inFile = getPath(doc, ["env", "ANTHROPIC_API_KEY"]) !== undefined
    if (!inFile && !process.env.ANTHROPIC_API_KEY) return []
    return [
      `ANTHROPIC_API_KEY is set (${
        inFile ? "in the same file's env" : "in this shell"
      }): Claude Code sends it as X-API-Key, which the gateway checks before ANTHROPIC_AUTH_TOKEN — remove it, or set it to the gateway key`
    ]
  }
})
