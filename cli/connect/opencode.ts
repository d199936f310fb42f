import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { GATEWAY_KEY_VAR, keyVarWarning } from "./gateway.ts"
import { jsonFormat } from "./jsonFormat.ts"
import { modelOf, PROVIDER_ID } from "./modelChoice.ts"
import type { Connector, FileTool } from "./tools.ts"

/** opencode's global config: `$XDG_CONFIG_HOME/opencode/opencode.json`, or the `.jsonc` one when that is there. */
export const opencodeFile = (env: Record<string, string | undefined> = process.env) => {
  const dir = join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"), "opencode")
  const jsonc = join(dir, "opencode.jsonc")
  const json = join(dir, "opencode.json")
  return !existsSync(json) && existsSync(jsonc) ? jsonc : json
}

/**
 * opencode: a provider on `@ai-sdk/openai-compatible` at the gateway's `/v1`, its key read from the environment
 * (`{env:ISARTOR_API_KEY}`), holding the model opencode had selected, and selected in its place.
 */
const opencodeConfig = (): FileTool => ({
  id: "opencode",
  name: "opencode",
  format: jsonFormat(true),
  file: opencodeFile(),
  settings: (gateway, doc) => {
    const model = modelOf(doc.model, gateway)
    const provider = ["provider", PROVIDER_ID]
    return [
      { path: [...provider, "npm"], value: "@ai-sdk/openai-compatible" },
      { path: [...provider, "name"], value: "Isartor" },
      { path: [...provider, "options", "baseURL"], value: `${gateway.url}/v1` },
      ...(gateway.key === ""
        ? []
        : [{ path: [...provider, "options", "apiKey"], value: `{env:${GATEWAY_KEY_VAR}}` }]),
      { path: [...provider, "models", model, "name"], value: model },
      { path: ["model"], value: `${PROVIDER_ID}/${model}` }
    ]
  },
  urlKey: ["provider", PROVIDER_ID, "options", "baseURL"],
  urlFor: (gateway) => `${gateway.url}/v1`,
  warnings: (_doc, gateway) => keyVarWarning("opencode", gateway)
})

export const opencode = (): Connector => ({ name: "opencode", files: [opencodeConfig()] })
