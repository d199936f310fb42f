import { homedir } from "node:os"
import { join } from "node:path"
import { GATEWAY_KEY_VAR, keyVarWarning } from "./gateway.ts"
import { tomlFormat } from "./tomlFormat.ts"
import type { Connector, FileTool } from "./tools.ts"

/** The variable Codex reads the gateway key from (`env_key`): a key belongs in the environment, not in config.toml. */
export const CODEX_KEY_VAR = GATEWAY_KEY_VAR

export const codexFile = (env: Record<string, string | undefined> = process.env) =>
  join(env.CODEX_HOME || join(env.HOME || homedir(), ".codex"), "config.toml")

/**
 * Codex: a `[model_providers.isartor]` speaking the Responses API at the gateway's `/v1`, selected with
 * `model_provider = "isartor"` in `$CODEX_HOME/config.toml` (`~/.codex`). Codex refuses to start when `env_key`
 * names an unset variable, so it is written only when the gateway has a key.
 */
export const codex = (): Connector => ({ name: "Codex", files: [codexConfig()] })

const codexConfig = (): FileTool => ({
  id: "codex",
  name: "Codex",
  format: tomlFormat,
  file: codexFile(),
  settings: (gateway) => [
    { path: ["model_provider"], value: "isartor" },
    { path: ["model_providers", "isartor", "name"], value: "Isartor" },
    { path: ["model_providers", "isartor", "base_url"], value: `${gateway.url}/v1` },
    { path: ["model_providers", "isartor", "wire_api"], value: "responses" },
    ...(gateway.key === "" ? [] : [{ path: ["model_providers", "isartor", "env_key"], value: CODEX_KEY_VAR }])
  ],
  urlKey: ["model_providers", "isartor", "base_url"],
  urlFor: (gateway) => `${gateway.url}/v1`,
  warnings: (_doc, gateway) => keyVarWarning("Codex", gateway)
})
