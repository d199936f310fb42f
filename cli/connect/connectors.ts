import { claude } from "./claude.ts"
import { codex } from "./codex.ts"
import { gemini } from "./gemini.ts"
import { claudeDesktop, cursor } from "./mcpServer.ts"
import { openclaw } from "./openclaw.ts"
import { opencode } from "./opencode.ts"
import type { Connector, FileToolId } from "./tools.ts"

/** Each tool connected through its own files, by the name `isartor connect` takes: one definition per tool. */
export const CONNECTORS = {
  claude: (options) => claude(options.project),
  codex: () => codex(),
  gemini: () => gemini(),
  opencode: () => opencode(),
  openclaw: () => openclaw(),
  cursor: () => cursor(),
  "claude-desktop": () => claudeDesktop()
} satisfies Record<FileToolId, (options: { readonly project: boolean }) => Connector>

export const isFileTool = (tool: string): tool is FileToolId => Object.hasOwn(CONNECTORS, tool)
