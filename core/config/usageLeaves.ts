import { Config, ConfigProvider, Schema } from "effect"
import type { ListedPrice } from "../usage/prices.ts"
import type { Leaf } from "./Leaf.ts"

const Price = Schema.Struct({ input_per_million: Schema.Number, output_per_million: Schema.Number })
/** Text (a variable: `provider/model=input/output,…`) or a table (a file: `[pricing."provider/model"]`). */
const PriceTable = Schema.Union([Schema.String, Schema.Record(Schema.String, Price)])

const pricesFromText = (text: string): Record<string, ListedPrice> | undefined => {
  const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "")
  const parsed = entries.map((entry) => /^([^=\s]+)\s*=\s*([0-9.]+)\s*\/\s*([0-9.]+)$/.exec(entry))
  if (!parsed.every((found) => found !== null)) return undefined
  return Object.fromEntries(
    parsed.map((found) => [found![1]!, { input_per_million: Number(found![2]), output_per_million: Number(found![3]) }])
  )
}

/** `[pricing."<provider>/<model>"] input_per_million = …, output_per_million = …`: the operator's prices. */
export const pricingTable = (meaning: string): Leaf<Readonly<Record<string, ListedPrice>>> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(PriceTable, name).pipe(
      Config.withDefault(""),
      Config.flatMap((value) => {
        if (typeof value !== "string") return Config.succeed(value)
        const prices = pricesFromText(value)
        return prices === undefined
          ? Config.fail(new ConfigProvider.SourceError({ message: "expected provider/model=input/output entries" }))
          : Config.succeed(prices)
      })
    ),
  defaultText: "(empty)",
  meaning,
  form:
    "a table of \"provider/model\" = { input_per_million, output_per_million } (in a variable: comma-separated provider/model=input/output)",
  secret: false
})

/** A gateway key the operator named: the key itself is given as its SHA-256, or as the variable that holds it. */
export interface GatewayKeySpec {
  readonly label: string
  readonly sha256?: string | undefined
  readonly key_env?: string | undefined
}

const KeyEntry = Schema.Struct({
  label: Schema.String,
  sha256: Schema.optional(Schema.String),
  key_env: Schema.optional(Schema.String)
})
/** A list of tables (a file: `[[gateway_keys]]`), or text (a variable: `label=sha256:<hex>` / `label=env:VAR`, …). */
const KeyList = Schema.Union([Schema.String, Schema.Array(KeyEntry)])

const keysFromText = (text: string): Array<GatewayKeySpec> | undefined => {
  const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "")
  const parsed = entries.map((entry) => /^([^=]+)=(sha256|env):(.+)$/.exec(entry))
  if (!parsed.every((found) => found !== null)) return undefined
  return parsed.map((found) =>
    found![2] === "sha256"
      ? { label: found![1]!.trim(), sha256: found![3]!.trim() }
      : { label: found![1]!.trim(), key_env: found![3]!.trim() }
  )
}

const validKey = (entry: GatewayKeySpec) =>
  entry.label.trim() !== "" &&
  ((entry.sha256 !== undefined && /^[0-9a-fA-F]{64}$/.test(entry.sha256)) !== (entry.key_env !== undefined &&
    entry.key_env !== ""))

/** `[[gateway_keys]] label = "team-web", sha256 = "<hex>"` or `key_env = "VAR"`: named gateway keys. */
export const gatewayKeyList = (meaning: string): Leaf<ReadonlyArray<GatewayKeySpec>> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(KeyList, name).pipe(
      Config.withDefault(""),
      Config.flatMap((value) => {
        const keys = typeof value === "string" ? keysFromText(value) : value
        return keys !== undefined && keys.every(validKey)
          ? Config.succeed(keys)
          : Config.fail(
            new ConfigProvider.SourceError({
              message: "each key needs a label and either sha256 (64 hex digits) or key_env (a variable's name)"
            })
          )
      })
    ),
  defaultText: "(empty)",
  meaning,
  form:
    "a list of { label, sha256 } or { label, key_env } tables (in a variable: comma-separated label=sha256:<hex> or label=env:VAR)",
  secret: true
})
