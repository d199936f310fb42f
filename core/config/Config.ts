import { Cause, ConfigProvider, Context, Effect, Exit, Layer } from "effect"
import { closest } from "fastest-levenshtein"
import { parse as parseToml } from "smol-toml"
import { ConfigInvalid, messageOf } from "../domain/errors.ts"
import { parsePrice } from "../observability/usage.ts"
import { type AppConfigShape, configLeaves, envVarName, providerConfigKeys } from "./ConfigSpec.ts"

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

const validHostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/

/** Checks the shapes a schema type alone does not express; returns a message per bad key. */
const checkShapes = (config: AppConfigShape): Array<[ReadonlyArray<string>, string]> => {
  const problems: Array<[ReadonlyArray<string>, string]> = []
  const port = validHostPort.exec(config.host_port)?.[2]
  if (port === undefined || Number(port) > 65535) {
    problems.push([["host_port"], "expected host:port, e.g. 0.0.0.0:8080"])
  }
  const fractions: Array<[ReadonlyArray<string>, number]> = [
    ...(config.similarity_threshold === undefined
      ? []
      : [[["similarity_threshold"], config.similarity_threshold] as [ReadonlyArray<string>, number]]),
    [["semantic_fast_threshold"], config.semantic_fast_threshold],
    [["l1b_score_threshold"], config.l1b_score_threshold],
    [["l1b_error_budget"], config.l1b_error_budget],
    [["layer2", "classifier_min_confidence"], config.layer2.classifier_min_confidence]
  ]
  for (const [path, value] of fractions) {
    if (!(value >= 0 && value <= 1)) problems.push([path, "expected a number between 0 and 1"])
  }
  if (config.l3_max_retries < 0) problems.push([["l3_max_retries"], "expected 0 or a positive integer"])
  if (config.l3_retry_base_ms < 0) problems.push([["l3_retry_base_ms"], "expected 0 or a positive integer"])
  if (config.azure_deployment_id !== "" && !/^[A-Za-z0-9._-]+$/.test(config.azure_deployment_id)) {
    problems.push([["azure_deployment_id"], "expected a deployment name of letters, digits, '.', '_' or '-'"])
  }
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(config.azure_api_version)) {
    problems.push([["azure_api_version"], "expected YYYY-MM-DD or YYYY-MM-DD-preview"])
  }
  const positive: Array<[ReadonlyArray<string>, number]> = [
    [["cache_ttl_secs"], config.cache_ttl_secs],
    [["cache_max_capacity"], config.cache_max_capacity],
    [["cache_max_bytes"], config.cache_max_bytes],
    [["max_body_bytes"], config.max_body_bytes],
    [["cache_max_entry_bytes"], config.cache_max_entry_bytes],
    [["max_upstream_body_bytes"], config.max_upstream_body_bytes],
    [["max_sse_line_bytes"], config.max_sse_line_bytes],
    [["l3_stream_idle_secs"], config.l3_stream_idle_secs],
    [["l3_timeout_secs"], config.l3_timeout_secs],
    [["layer2", "timeout_seconds"], config.layer2.timeout_seconds],
    [["layer2", "max_answer_tokens"], config.layer2.max_answer_tokens]
  ]
  for (const [path, value] of positive) if (value <= 0) problems.push([path, "expected a positive integer"])
  if (config.metrics_port < 0 || config.metrics_port > 65535) {
    problems.push([["metrics_port"], "expected a port number (0 to 65535; 0: the gateway's own port)"])
  }
  const unpriced = config.model_prices.filter((entry) => parsePrice(entry) === undefined)
  if (unpriced.length > 0) {
    problems.push([
      ["model_prices"],
      `expected model=input/output (USD per million tokens), not ${unpriced.join(", ")}`
    ])
  }
  const urls: Array<[ReadonlyArray<string>, string, ReadonlyArray<string>]> = [
    [["external_llm_url"], config.external_llm_url, ["http:", "https:"]],
    ...providerConfigKeys.map((id): [ReadonlyArray<string>, string, ReadonlyArray<string>] => [
      ["providers", id, "url"],
      config.providers[id].url,
      ["http:", "https:"]
    ]),
    [["otel_exporter_endpoint"], config.otel_exporter_endpoint, ["http:", "https:"]],
    [["layer2", "sidecar_url"], config.layer2.sidecar_url, ["http:", "https:"]]
    // redis_url is checked when Redis is used: a malformed one degrades the caches instead of stopping start-up.
  ]
  for (const [path, value, protocols] of urls) {
    if (value === "") continue // empty: the default (a provider's public API, say)
    const protocol = URL.canParse(value) ? new URL(value).protocol : undefined
    if (protocol === undefined || !protocols.includes(protocol)) {
      problems.push([path, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`])
    }
  }
  return problems
}

/**
 * Defaults ← config file ← `ISARTOR__*` environment variables (`__` nests). A bad value fails with a message
 * naming where it came from and the form expected; unknown or single-underscore variables become warnings.
 */
export const loadConfig = Effect.fn("Config.load")(function*(sources: ConfigSources) {
  const warnings: Array<string> = []
  const file = yield* readFile(sources)
  const merged: Tree = structuredClone(file?.tree ?? {})
  const fromEnv = new Set<string>()

  if (file) {
    for (const path of flatten(file.tree)) {
      if (!knownPaths.has(path.join("."))) {
        warnings.push(
          `unknown key "${path.join(".")}" in ${file.path}; did you mean "${suggest(path.join("."), [...knownPaths])}"?`
        )
      }
    }
  }
  for (const [name, value] of Object.entries(sources.env)) {
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

  const secretPaths = new Set(leaves.filter(([, spec]) => spec.secret).map(([path]) => path.join(".")))
  const where = (path: ReadonlyArray<string>) =>
    fromEnv.has(path.join(".")) ? envVarName(path) : `"${path.join(".")}" in ${file?.path ?? "the configuration"}`
  const shown = (path: ReadonlyArray<string>) =>
    secretPaths.has(path.join(".")) ? where(path) : `${where(path)} = ${JSON.stringify(getPath(merged, path))}`

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
  if (problems.length > 0) {
    return yield* new ConfigInvalid({ message: `invalid configuration:\n  ${problems.join("\n  ")}` })
  }
  const setBy: Record<string, string> = {}
  for (const [path] of leaves) {
    const key = path.join(".")
    if (fromEnv.has(key)) setBy[key] = envVarName(path)
    else if (file && getPath(file.tree, path) !== undefined) setBy[key] = file.path
  }
  return { config: result as unknown as AppConfigShape, warnings, file: file?.path, setBy } satisfies LoadedConfig
})
