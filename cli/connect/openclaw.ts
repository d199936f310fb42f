import { homedir } from "node:os"
import { join } from "node:path"
import { jsonFormat } from "./jsonFormat.ts"
import { modelOf, PROVIDER_ID } from "./modelChoice.ts"
import { getPath } from "./settings.ts"
import type { Connector, FileTool } from "./tools.ts"

/** `$OPENCLAW_CONFIG_PATH`, else `openclaw.json` in `$OPENCLAW_STATE_DIR` (default `~/.openclaw`). */
export const openclawFile = (env: Record<string, string | undefined> = process.env) =>
  env.OPENCLAW_CONFIG_PATH ||
  join(env.OPENCLAW_STATE_DIR || join(env.OPENCLAW_HOME || env.HOME || homedir(), ".openclaw"), "openclaw.json")

/**
 * OpenClaw: a provider in `models.providers` speaking OpenAI's chat completions at the gateway's `/v1`, with the
 * model its agents had as their default, made their default. The key goes in the file: OpenClaw's gateway runs as
 * a service, which does not see a shell's exports. JSON5-only syntax (unquoted keys) is refused, never rewritten.
 */
const openclawConfig = (): FileTool => ({
  id: "openclaw",
  name: "OpenClaw",
  format: jsonFormat(true),
  file: openclawFile(),
  settings: (gateway, doc) => {
    // `agents.defaults.model` is a `provider/model` string or `{ primary, fallbacks }`.
    const selected = getPath(doc, ["agents", "defaults", "model"])
    const primaryPath = typeof selected === "string"
      ? ["agents", "defaults", "model"]
      : ["agents", "defaults", "model", "primary"]
    const model = modelOf(getPath(doc, primaryPath), gateway)
    const provider = ["models", "providers", PROVIDER_ID]
    return [
      { path: [...provider, "baseUrl"], value: `${gateway.url}/v1` },
      { path: [...provider, "api"], value: "openai-completions" },
      ...(gateway.key === "" ? [] : [{ path: [...provider, "apiKey"], value: gateway.key }]),
      { path: [...provider, "models"], value: [{ id: model, name: model }] },
      { path: primaryPath, value: `${PROVIDER_ID}/${model}` }
    ]
  },
  urlKey: ["models", "providers", PROVIDER_ID, "baseUrl"],
  urlFor: (gateway) => `${gateway.url}/v1`,
  warnings: (_doc, gateway) =>
    gateway.key === ""
      ? ["the gateway has no key: if OpenClaw asks for the isartor provider's API key, give it any value (--key)"]
      : []
})

export const openclaw = (): Connector => ({ name: "OpenClaw", files: [openclawConfig()] })
