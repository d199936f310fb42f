import { Config, ConfigProvider, Redacted, Schema } from "effect"
import type { Leaf } from "./Leaf.ts"

/** One key of a provider's pool, as configured: the key, a name to show it by, and its place in `priority` order. */
export interface PoolKeySpec {
  readonly key: Redacted.Redacted<string>
  readonly label: string | undefined
  readonly priority: number | undefined
}

const KeyEntry = Schema.Union([
  Schema.String,
  Schema.Struct({
    key: Schema.String,
    label: Schema.optional(Schema.String),
    priority: Schema.optional(Schema.Number)
  })
])
/** Text (a variable: comma-separated keys) or a list (a file: strings or `{ key, label, priority }` tables). */
const KeyList = Schema.Union([Schema.String, Schema.Array(KeyEntry)])

const entryOf = (entry: typeof KeyEntry.Type): PoolKeySpec =>
  typeof entry === "string"
    ? { key: Redacted.make(entry.trim()), label: undefined, priority: undefined }
    : { key: Redacted.make(entry.key.trim()), label: entry.label, priority: entry.priority }

/** A provider's extra keys: never echoed back, not even in a start-up error. */
export const keyList = (meaning: string): Leaf<ReadonlyArray<PoolKeySpec>> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(KeyList, name).pipe(
      Config.withDefault(""),
      Config.map((value): ReadonlyArray<PoolKeySpec> =>
        (typeof value === "string" ? value.split(",") : value).map(entryOf).filter(({ key }) =>
          Redacted.value(key) !== ""
        )
      )
    ),
  defaultText: "(empty)",
  meaning,
  form: "a list of keys, each text or { key, label, priority } (in a variable: comma-separated keys)",
  secret: true
})

/** Text (a variable: `name=target,…`) or a table (a file: `name = "target"`). */
const AliasTable = Schema.Union([Schema.String, Schema.Record(Schema.String, Schema.String)])

/** Model aliases, name → target (`model` or `provider/model`), read from a table or from `name=target` pairs. */
export const aliasTable = (meaning: string): Leaf<Readonly<Record<string, string>>> => ({
  _tag: "Leaf",
  make: (name) =>
    Config.schema(AliasTable, name).pipe(
      Config.withDefault(""),
      Config.flatMap((value) => {
        if (typeof value !== "string") return Config.succeed(value)
        const pairs = value.split(",").map((pair) => pair.trim()).filter((pair) => pair !== "")
        const parsed = pairs.map((pair) => pair.split("=").map((part) => part.trim()))
        return parsed.every((parts) => parts.length === 2 && parts[0] !== "" && parts[1] !== "")
          ? Config.succeed(Object.fromEntries(parsed) as Record<string, string>)
          : Config.fail(new ConfigProvider.SourceError({ message: "expected name=target pairs" }))
      })
    ),
  defaultText: "(empty)",
  meaning,
  form: "a table of name = \"model\" or \"provider/model\" (in a variable: comma-separated name=target pairs)",
  secret: false
})
