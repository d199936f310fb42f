import { homedir } from "node:os"
import { join } from "node:path"
import { dotenvFormat } from "./dotenvFormat.ts"
import type { GatewayTarget } from "./gateway.ts"
import { jsonFormat } from "./jsonFormat.ts"
import { getPath } from "./settings.ts"
import type { Connector, FileTool } from "./tools.ts"

/** Gemini CLI's user folder: `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`. */
export const geminiDir = (env: Record<string, string | undefined> = process.env) =>
  join(env.GEMINI_CLI_HOME || env.HOME || homedir(), ".gemini")

/** A variable of the shell wins over the .env file (Gemini CLI loads only what is not set): say so when it differs. */
const shellWins = (name: string, value: string | undefined) =>
  value !== undefined && process.env[name] !== undefined && process.env[name] !== value
    ? [`${name} is set in this shell to something else, and Gemini CLI takes it over ~/.gemini/.env: unset it`]
    : []

/**
 * Gemini CLI takes its base URL from the environment only (`GOOGLE_GEMINI_BASE_URL`), and loads `~/.gemini/.env`
 * into it: the URL and the gateway key (as `GEMINI_API_KEY`, which it sends as `x-goog-api-key`) go there.
 */
const geminiEnv = (): FileTool => ({
  id: "gemini",
  name: "Gemini CLI",
  format: dotenvFormat,
  file: join(geminiDir(), ".env"),
  settings: (gateway) => [
    { path: ["GOOGLE_GEMINI_BASE_URL"], value: gateway.url },
    ...(gateway.key === "" ? [] : [{ path: ["GEMINI_API_KEY"], value: gateway.key }])
  ],
  urlKey: ["GOOGLE_GEMINI_BASE_URL"],
  urlFor: (gateway) => gateway.url,
  warnings: (doc, gateway: GatewayTarget) => [
    ...shellWins("GOOGLE_GEMINI_BASE_URL", gateway.url),
    ...shellWins("GEMINI_API_KEY", gateway.key === "" ? undefined : gateway.key),
    ...(gateway.key === "" && getPath(doc, ["GEMINI_API_KEY"]) === undefined && !process.env.GEMINI_API_KEY
      ? ["Gemini CLI asks for GEMINI_API_KEY: the gateway has no key, so any value will do"]
      : [])
  ]
})

/** Its sign-in choice: a Google login ignores the base URL, an API key uses it. */
const geminiSettings = (): FileTool => ({
  id: "gemini",
  name: "Gemini CLI",
  format: jsonFormat(true),
  file: join(geminiDir(), "settings.json"),
  settings: () => [{ path: ["security", "auth", "selectedType"], value: "gemini-api-key" }]
})

export const gemini = (): Connector => ({ name: "Gemini CLI", files: [geminiEnv(), geminiSettings()] })
