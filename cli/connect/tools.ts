import type { GatewayTarget } from "./gateway.ts"
import type { Setting, SettingsFormat } from "./settings.ts"

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
