import { Redacted } from "effect"
import { type AppConfigShape, configLeaves } from "./ConfigSpec.ts"

/** A URL with any password masked, for log lines and the admin API. */
export const redactUrl = (url: string) => url.replace(/\/\/([^:@/]*):[^@/]*@/g, "//$1:***@")

/** One setting as the gateway runs with it, and where its value came from. */
export interface EffectiveSetting {
  readonly key: string
  /** A secret shows as "(set)" or "" — never its value; a URL's password is masked. */
  readonly value: string | number | boolean
  /** "default", the `ISARTOR__…` variable that set it, or the configuration file's path. */
  readonly source: string
}

/** The non-empty secret texts a value holds: a `Redacted`, or the ones in a list or table (a key pool). */
const redactedIn = (value: unknown): Array<string> => {
  if (Redacted.isRedacted(value)) {
    const text = Redacted.value(value)
    return typeof text === "string" && text !== "" ? [text] : []
  }
  if (typeof value !== "object" || value === null) return []
  return Object.values(value).flatMap(redactedIn)
}

const valueAt = (config: AppConfigShape, path: ReadonlyArray<string>) =>
  path.reduce<unknown>((node, name) => (node as Record<string, unknown>)[name], config)

/** Every secret of the configuration (keys, key pools), to mask wherever text might quote one. */
export const secretValues = (config: AppConfigShape): Array<string> =>
  configLeaves().filter(([, leaf]) => leaf.secret).flatMap(([path]) => redactedIn(valueAt(config, path)))

const shown = (value: unknown, secret: boolean): EffectiveSetting["value"] => {
  if (secret) return redactedIn(value).length > 0 ? "(set)" : ""
  if (typeof value === "number" || typeof value === "boolean") return value
  if (Array.isArray(value)) return redactUrl(value.join(","))
  if (typeof value === "object" && value !== null) return redactUrl(JSON.stringify(value))
  return redactUrl(String(value))
}

/** Every key of the running configuration with its value (secrets masked) and its source, in the spec's order. */
export const effectiveSettings = (
  config: AppConfigShape,
  setBy: Readonly<Record<string, string>>
): Array<EffectiveSetting> =>
  configLeaves().map(([path, leaf]) => {
    const key = path.join(".")
    return { key, value: shown(valueAt(config, path), leaf.secret), source: setBy[key] ?? "default" }
  })
