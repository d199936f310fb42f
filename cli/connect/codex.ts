import { homedir } from "node:os"
import { join } from "node:path"
import type { GatewayTarget } from "./gateway.ts"
import { tomlFormat } from "./tomlFormat.ts"
import type { FileTool } from "./tools.ts"

/** The variable Codex reads the gateway key from (`env_key`): a key belongs in the environment, not in config.toml. */
export const CODEX_KEY_VAR = "ISARTOR_API_KEY"

export const codexFile = (env: Record<string, string | undefined> = process.env) =>
  join(env.CODEX_HOME || join(env.HOME || homedir(), ".codex"), "config.toml")

/**
 * Codex: a `[model_providers.isartor]` speaking the Responses API at the gateway's `/v1`, selected with
 * `model_provider = "isartor"` in `$CODEX_HOME/config.toml` (`~/.codex`). Codex refuses to start when `env_key`
 * names an unset variable, so it is written only when the gateway has a key.
 */
export const codex = (): FileTool => ({
  id: "codex",
  name: "Codex",
  format: tomlFormat,
  file: codexFile(),
  settings: (gateway: GatewayTarget) => [
    { path: ["model_provider"], value: "isartor" },
    { path: ["model_providers", "isartor", "name"], value: "Isartor" },
    { path: ["model_providers", "isartor", "base_url"], value: `${gateway.url}/v1` },
    { path: ["model_providers", "isartor", "wire_api"], value: "responses" },
    ...(gateway.key === "" ? [] : [{ path: ["model_providers", "isartor", "env_key"], value: CODEX_KEY_VAR }])
  ],
  urlKey: ["model_providers", "isartor", "base_url"],
  urlFor: (gateway) => `${gateway.url}/v1`,
  warnings: (_doc, gateway) =>
    gateway.key !== "" && process.env[CODEX_KEY_VAR] !== gateway.key
      ? [
        `Codex reads the gateway key from ${CODEX_KEY_VAR}: export it in the shell that runs codex (eval "$(isartor connect env)" does)`
      ]
      : []
})
