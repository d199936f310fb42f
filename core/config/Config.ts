import { Cause, ConfigProvider, Context, Effect, Exit, Layer } from "effect"
import { closest } from "fastest-levenshtein"
import { parse as parseToml } from "smol-toml"
import { ConfigInvalid, messageOf } from "../domain/errors.ts"
import { type AppConfigShape, configLeaves, envVarName } from "./ConfigSpec.ts"
import { checkShapes } from "./shapes.ts"

/** The gateway's configuration, read once at start-up. */
export class AppConfig extends Context.Service<AppConfig, AppConfigShape>()("isartor/AppConfig") {
  static readonly layer = (config: AppConfigShape) => Layer.succeed(AppConfig, config)
}

/** What a runtime entrypoint hands over: it alone touches the environment and the file system. */
export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>
  /** Resolves to the file's text, or `undefined` when there is no such file. */
  readonly readTextFile: (path: string) => Promise<string | undefined>
}

export interface LoadedConfig {
  readonly config: AppConfigShape
  readonly warnings: ReadonlyArray<string>
  readonly file: string | undefined
  /** Where each key that is not at its default was set (`a.b` → its `ISARTOR__A__B` variable, or the file's path). */
  readonly setBy: Readonly<Record<string, string>>
}

/** What the admin API shows of the configuration: the file, where each key was set, the start-up warnings. */
export class ConfigReport extends Context.Service<ConfigReport, {
  readonly file: string | undefined
  readonly setBy: Readonly<Record<string, string>>
  readonly warnings: ReadonlyArray<string>
}>()("isartor/ConfigReport") {}

/**
 * Not configuration keys, but variables the gateway reads; they draw no unknown-key warning. The two cache
 * directories are read by the runtime, where the file system is: transformers.js models, and files derived from the
 * embedding model (the fast stage's table).
 */
export const CONFIG_FILE_VAR = "ISARTOR__CONFIG_FILE"
/**
 * Variables of the isartor family that are not settings: the model caches, the command's state and update sources,
 * and what `isartor connect` exports for client tools. None of them is the single-underscore mistake.
 */
const knownExtraVars = new Set([
  CONFIG_FILE_VAR,
  "ISARTOR_HF_CACHE_DIR",
  "ISARTOR_CACHE_DIR",
  "ISARTOR_HOME",
  "ISARTOR_URL",
  "ISARTOR_UPDATE_REGISTRY",
  "ISARTOR_UPDATE_RELEASES",
  "ISARTOR_API_KEY",
  "ISARTOR_COPILOT_ENABLED",
  "ISARTOR_ANTIGRAVITY_ENABLED"
])

type Tree = { [key: string]: unknown }
const isTree = (value: unknown): value is Tree => typeof value === "object" && value !== null && !Array.isArray(value)

const leaves = configLeaves()
const knownPaths = new Set(leaves.map(([path]) => path.join(".")))
const knownVars = leaves.map(([path]) => envVarName(path))

/** The valid name a mistyped one most likely meant: one it is a prefix of, else the nearest by edit distance. */
const suggest = (name: string, valid: ReadonlyArray<string>): string =>
  valid.filter((candidate) => candidate.startsWith(name)).sort((a, b) => a.length - b.length)[0] ??
    closest(name, [...valid])

const setPath = (tree: Tree, path: ReadonlyArray<string>, value: unknown) => {
  let node = tree
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {}
    node = node[key] as Tree
  }
  node[path[path.length - 1]!] = value
}

const getPath = (tree: Tree, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((node, key) => (isTree(node) ? node[key] : undefined), tree)

const flatten = (tree: Tree, prefix: ReadonlyArray<string> = []): Array<ReadonlyArray<string>> =>
  Object.entries(tree).flatMap(([key, value]) =>
    isTree(value) && !knownPaths.has([...prefix, key].join(".")) ? flatten(value, [...prefix, key]) : [[...prefix, key]]
  )

const readFile = Effect.fn("Config.readFile")(function*(sources: ConfigSources) {
  const explicit = sources.env[CONFIG_FILE_VAR]
  const candidates = explicit ? [explicit] : ["isartor.toml", "isartor.json"]
  for (const path of candidates) {
    const text = yield* Effect.tryPromise({
      try: () => sources.readTextFile(path),
      catch: (error) => new ConfigInvalid({ message: `cannot read config file ${path}: ${String(error)}` })
    })
    if (text === undefined) continue
    const parsed = yield* Effect.try({
      try: () => (path.endsWith(".json") ? JSON.parse(text) as unknown : parseToml(text) as unknown),
      catch: (error) =>
        new ConfigInvalid({
          message: `config file ${path} is not valid ${path.endsWith(".json") ? "JSON" : "TOML"}: ${messageOf(error)}`
        })
    })
    if (!isTree(parsed)) return yield* new ConfigInvalid({ message: `config file ${path} must hold a table of keys` })
    return { path, tree: parsed }
  }
  if (explicit) {
    return yield* new ConfigInvalid({ message: `config file ${explicit} (from ${CONFIG_FILE_VAR}) does not exist` })
  }
  return undefined
})

/**
 * A table leaf's own word on one field inside it (`budgets.openai.action = "stop": expected one of …`), when its
 * message names one; else the leaf's form says what is expected.
 */
const fieldProblem = (cause: Cause.Cause<unknown>, key: string): string | undefined => {
  const source = (Cause.squash(cause) as { readonly cause?: { readonly message?: unknown } } | undefined)?.cause
  const message = source?.message
  return typeof message === "string" && (message.startsWith(`${key}.`) || message.startsWith(`${key} `) ||
      message.startsWith(`${key}:`))
    ? message
    : undefined
}

/** Warnings for the keys of a config file the spec does not know, each with the nearest one it does. */
const unknownFileKeys = (file: { readonly path: string; readonly tree: Tree }) =>
  flatten(file.tree).filter((path) => !knownPaths.has(path.join("."))).map((path) =>
    `unknown key "${path.join(".")}" in ${file.path}; did you mean "${suggest(path.join("."), [...knownPaths])}"?`
  )

/** `ISARTOR__*` variables laid over the file's tree; a misspelt or single-underscore one is a warning instead. */
const overlayEnv = (env: ConfigSources["env"], merged: Tree, warnings: Array<string>) => {
  const fromEnv = new Set<string>()
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith("ISARTOR_") || knownExtraVars.has(name)) continue
    if (!name.startsWith("ISARTOR__")) {
      warnings.push(
        `${name} is ignored: configuration variables start with ISARTOR__ (two underscores); did you mean ${
          suggest(`ISARTOR__${name.slice("ISARTOR_".length)}`, knownVars)
        }?`
      )
      continue
    }
    const path = name.slice("ISARTOR__".length).toLowerCase().split("__")
    if (!knownPaths.has(path.join("."))) {
      warnings.push(`${name} is not a configuration variable and is ignored; did you mean ${suggest(name, knownVars)}?`)
      continue
    }
    setPath(merged, path, value)
    fromEnv.add(path.join("."))
  }
  return fromEnv
}

/** Every leaf read from the merged tree, with a message per bad value that says where it came from. */
const readLeaves = (
  merged: Tree,
  where: (path: ReadonlyArray<string>) => string,
  shown: (path: ReadonlyArray<string>) => string
) => {
  const result: Tree = {}
  const problems: Array<string> = []
  for (const [path, spec] of leaves) {
    const parent = getPath(merged, path.slice(0, -1))
    const provider = ConfigProvider.fromUnknown(isTree(parent) ? parent : {})
    const exit = Effect.runSyncExit(spec.make(path[path.length - 1]!).parse(provider))
    if (Exit.isSuccess(exit)) setPath(result, path, exit.value)
    else {
      const field = fieldProblem(exit.cause, path.join("."))
      problems.push(field === undefined ? `${shown(path)}: expected ${spec.form}` : `${where(path)}: ${field}`)
    }
  }
  if (problems.length === 0) {
    for (const [path, message] of checkShapes(result as unknown as AppConfigShape)) {
      problems.push(`${shown(path)}: ${message}`)
    }
  }
  return { config: result as unknown as AppConfigShape, problems }
}

/** Which source set each key: its variable, or the file. */
const setByOf = (file: { readonly path: string; readonly tree: Tree } | undefined, fromEnv: ReadonlySet<string>) => {
  const setBy: Record<string, string> = {}
  for (const [path] of leaves) {
    const key = path.join(".")
    if (fromEnv.has(key)) setBy[key] = envVarName(path)
    else if (file && getPath(file.tree, path) !== undefined) setBy[key] = file.path
  }
  return setBy
}

const secretPaths = new Set(leaves.filter(([, spec]) => spec.secret).map(([path]) => path.join(".")))

/**
 * Defaults ← config file ← `ISARTOR__*` environment variables (`__` nests). A bad value fails with a message
 * naming where it came from and the form expected; unknown or single-underscore variables become warnings.
 */
export const loadConfig = Effect.fn("Config.load")(function*(sources: ConfigSources) {
  const file = yield* readFile(sources)
  const merged: Tree = structuredClone(file?.tree ?? {})
  const warnings = file ? unknownFileKeys(file) : []
  const fromEnv = overlayEnv(sources.env, merged, warnings)
  const where = (path: ReadonlyArray<string>) =>
    fromEnv.has(path.join(".")) ? envVarName(path) : `"${path.join(".")}" in ${file?.path ?? "the configuration"}`
  const shown = (path: ReadonlyArray<string>) =>
    secretPaths.has(path.join(".")) ? where(path) : `${where(path)} = ${JSON.stringify(getPath(merged, path))}`
  const { config, problems } = readLeaves(merged, where, shown)
  if (problems.length > 0) {
    return yield* new ConfigInvalid({ message: `invalid configuration:\n  ${problems.join("\n  ")}` })
  }
  return { config, warnings, file: file?.path, setBy: setByOf(file, fromEnv) } satisfies LoadedConfig
})
