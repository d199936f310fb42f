import type { GatewayTarget } from "./gateway.ts"
import type { Setting, SettingsFormat } from "./settings.ts"

/** Every tool `isartor connect` knows, with what its help says of each (`cli/main.ts` lists them). */
export const TOOL_SUMMARIES = {
  claude: "Claude Code (~/.claude/settings.json; --project: .claude/settings.local.json)",
  codex: "Codex CLI (~/.codex/config.toml)",
  env: "shell exports for any OpenAI or Anthropic SDK",
  copilot: "GitHub Copilot in VS Code (through isartor proxy)",
  antigravity: "Antigravity (through isartor proxy)"
} as const
export const TOOLS = Object.keys(TOOL_SUMMARIES) as ReadonlyArray<keyof typeof TOOL_SUMMARIES>

/** A tool connected by editing one of its own settings files. */
export interface FileTool {
  readonly id: string
  /** As the tool calls itself. */
  readonly name: string
  readonly format: SettingsFormat
  readonly file: string
  /** The keys to set, in order. */
  readonly settings: (gateway: GatewayTarget) => ReadonlyArray<Setting>
  /** The key that says where the tool sends its requests (for status), and the value that means "the gateway". */
  readonly urlKey: ReadonlyArray<string>
  readonly urlFor: (gateway: GatewayTarget) => string
  /** Warnings worth printing after a connect, from the file as written and the environment. */
  readonly warnings?: (doc: Record<string, unknown>, gateway: GatewayTarget) => ReadonlyArray<string>
}
