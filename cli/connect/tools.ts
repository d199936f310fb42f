import type { GatewayTarget } from "./gateway.ts"
import type { Setting, SettingsFormat } from "./settings.ts"

/** Every tool `isartor connect` knows, with what its help says of each (`cli/main.ts` lists them). */
export const TOOL_SUMMARIES = {
  claude: "Claude Code (~/.claude/settings.json; --project: .claude/settings.local.json)",
  codex: "Codex CLI (~/.codex/config.toml)",
  gemini: "Gemini CLI (~/.gemini/.env and settings.json)",
  opencode: "opencode (~/.config/opencode/opencode.json: a provider on @ai-sdk/openai-compatible)",
  openclaw: "OpenClaw (~/.openclaw/openclaw.json: a provider and its default model)",
  cursor: "Cursor (~/.cursor/mcp.json: isartor mcp; prints the base-URL setting it cannot take from a file)",
  "claude-desktop": "Claude Desktop (claude_desktop_config.json: isartor mcp)",
  env: "shell exports for any OpenAI or Anthropic SDK",
  copilot: "GitHub Copilot in VS Code (through isartor proxy)",
  antigravity: "Antigravity (through isartor proxy)"
} as const
export type ToolId = keyof typeof TOOL_SUMMARIES
export const TOOLS = Object.keys(TOOL_SUMMARIES) as ReadonlyArray<ToolId>

/** The tools connected by editing their own files (the others print shell lines or go through the proxy). */
export type FileToolId = Exclude<ToolId, "env" | "copilot" | "antigravity">

/** One settings file of a tool, and the keys a connect sets in it. */
export interface FileTool {
  /** The undo records' name for the tool (one record per file). */
  readonly id: string
  /** As the tool calls itself. */
  readonly name: string
  readonly format: SettingsFormat
  readonly file: string
  /** The keys to set, in order, from the gateway and the file as it is now (the model it has selected). */
  readonly settings: (gateway: GatewayTarget, doc: Record<string, unknown>) => ReadonlyArray<Setting>
  /** The key that says where the tool sends its requests (for status), and the value that means "the gateway". */
  readonly urlKey?: ReadonlyArray<string>
  readonly urlFor?: (gateway: GatewayTarget) => string
  /** Warnings worth printing after a connect, from the file as written and the environment. */
  readonly warnings?: (doc: Record<string, unknown>, gateway: GatewayTarget) => ReadonlyArray<string>
}

/** A tool `isartor connect <id>` edits the files of: one definition per tool. */
export interface Connector {
  readonly name: string
  readonly files: ReadonlyArray<FileTool>
  /** What the user still has to do by hand (a setting the tool keeps where no file reaches). */
  readonly instructions?: (gateway: GatewayTarget) => ReadonlyArray<string>
}
