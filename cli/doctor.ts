import { Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { configDecidesByLearning, l1bSettingsLine } from "../core/cache/semantic/semanticLayer.ts"
import { CONFIG_FILE_VAR, type LoadedConfig } from "../core/config/Config.ts"
import { configLeaves, envVarName } from "../core/config/ConfigSpec.ts"
import { CA_BUNDLE_VARS, CONNECT_VARS, PROXY_SERVER_VARS, proxyCleanupLines } from "./connect/env.ts"
import {
  type Check,
  check,
  checkOtel,
  checkPort,
  checkProxy,
  checkProxyCa,
  checkRedis,
  checkSidecar,
  checkUpstream
} from "./doctorServices.ts"
import { COMMAND_VARS, effectiveConfig, gatewayEnv } from "./gatewayEnv.ts"
import type { CommandHost } from "./host.ts"
import { green, printJson, red, yellow } from "./output.ts"
import { liveness, stateDir } from "./state.ts"

/** Key shapes that give away which provider issued a key. */
const KEY_SHAPES: ReadonlyArray<[RegExp, string]> = [
  [/^sk-ant-/, "anthropic"],
  [/^xai-/, "xai"],
  [/^AIza/, "gemini"],
  [/^sk-(proj-|svcacct-)?[A-Za-z0-9_-]{20,}$/, "openai"]
]
const HOST_SHAPES: ReadonlyArray<[RegExp, string]> = [
  [/(^|\.)anthropic\.com$/, "anthropic"],
  [/(^|\.)openai\.com$/, "openai"],
  [/(^|\.)openai\.azure\.com$/, "azure"],
  [/(^|\.)x\.ai$/, "xai"],
  [/(^|\.)googleapis\.com$/, "gemini"]
]

/** Single-underscore variables that are meant so: the command's own, connect's, and the model cache. */
const NOT_SETTINGS = new Set([...COMMAND_VARS, ...CONNECT_VARS, "ISARTOR_HF_CACHE_DIR"])

const checkEnvironment = (env: NodeJS.ProcessEnv, loaded: LoadedConfig | undefined): Array<Check> => {
  const singles = Object.keys(env).filter((name) =>
    name.startsWith("ISARTOR_") && !name.startsWith("ISARTOR__") && !NOT_SETTINGS.has(name)
  )
  const out = [
    singles.length === 0
      ? check("variable prefix", "ok", "no single-underscore ISARTOR_ variables")
      : check(
        "variable prefix",
        "fail",
        `ignored (one underscore): ${singles.join(", ")}`,
        `rename with two underscores, e.g. export ISARTOR__${singles[0]!.slice("ISARTOR_".length)}=…; unset ${
          singles.join(" ")
        }`
      )
  ]
  const unknown = (loaded?.warnings ?? []).filter((warning) => /unknown key|not a configuration variable/.test(warning))
  out.push(
    unknown.length === 0
      ? check("unknown keys", "ok", "every key and ISARTOR__ variable is known")
      : check(
        "unknown keys",
        "fail",
        unknown.join("; "),
        "fix the spelling as suggested (see isartor init for every key)"
      )
  )
  return out
}

/** Which value wins for each key set in both places: the variable, always. */
const checkPrecedence = (env: NodeJS.ProcessEnv, loaded: LoadedConfig, fileTree: Record<string, unknown>) => {
  const inFile = (path: ReadonlyArray<string>) =>
    path.reduce<unknown>(
      (node, key) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined),
      fileTree
    ) !== undefined
  const both = configLeaves().filter(([path]) => inFile(path) && env[envVarName(path)] !== undefined)
  const fromEnv = configLeaves().filter(([path]) => env[envVarName(path)] !== undefined).length
  const source = loaded.file ? `config file ${loaded.file}` : "no config file (isartor.toml, isartor.json)"
  if (both.length === 0) {
    return check("file vs environment", "ok", `${source}; ${fromEnv} setting(s) from ISARTOR__ variables`)
  }
  return check(
    "file vs environment",
    "warn",
    `${source}; the variable wins over the file for ${
      both.map(([path, leaf]) =>
        `${path.join(".")} (${envVarName(path)}${leaf.secret ? "" : `=${JSON.stringify(env[envVarName(path)])}`})`
      ).join(", ")
    }`,
    `to use the file's value: unset ${both.map(([path]) => envVarName(path)).join(" ")}`
  )
}

const checkProvider = (loaded: LoadedConfig): Array<Check> => {
  const config = loaded.config
  const provider = config.llm_provider
  const key = Redacted.value(config.external_llm_api_key)
  const out: Array<Check> = []
  const keyOwner = KEY_SHAPES.find(([shape]) => shape.test(key))?.[1]
  const host = URL.canParse(config.external_llm_url) ? new URL(config.external_llm_url).hostname : ""
  const hostOwner = HOST_SHAPES.find(([shape]) => shape.test(host))?.[1]
  const problems: Array<string> = []
  if (keyOwner && keyOwner !== provider && !(keyOwner === "openai" && provider === "openai-compatible")) {
    problems.push(`the API key looks like one issued by ${keyOwner}, but llm_provider is ${provider}`)
  }
  if (hostOwner && hostOwner !== provider) {
    problems.push(`external_llm_url is ${host} (${hostOwner}), but llm_provider is ${provider}`)
  }
  if (problems.length > 0) {
    out.push(check(
      "provider, URL and key",
      "fail",
      problems.join("; "),
      `set the provider that issued the key, e.g. export ISARTOR__LLM_PROVIDER=${keyOwner ?? hostOwner}`
    ))
  } else if (key === "" && provider !== "ollama") {
    out.push(check(
      "provider, URL and key",
      "warn",
      `no API key for ${provider}: cached answers work, uncached requests get a 502`,
      "export ISARTOR__EXTERNAL_LLM_API_KEY=…"
    ))
  } else {out.push(
      check(
        "provider, URL and key",
        "ok",
        `${provider}${config.external_llm_url ? ` at ${config.external_llm_url}` : ""}`
      )
    )}
  return out
}

/** Loads the embedding model as the gateway would (on its worker), then lets it go. */
const checkModel = async (
  loaded: LoadedConfig,
  env: Record<string, string | undefined>,
  host: CommandHost
): Promise<Check> => {
  const { config } = loaded
  if (config.cache_mode === "exact" && !(config.enable_slm_router && config.layer2.classifier === "embedding")) {
    return check("embedding model", "skip", "cache_mode = exact")
  }
  const started = performance.now()
  try {
    const backend = await (await host.semantic(env)).loadEmbedder({
      model: config.embedding_model,
      modelPath: config.embedding_model_path
    })
    await backend.dispose?.()
    return check(
      "embedding model",
      "ok",
      `${backend.name} loads (${backend.dimensions} dimensions, ${((performance.now() - started) / 1000).toFixed(1)} s)`
    )
  } catch (error) {
    return check(
      "embedding model",
      "fail",
      `${config.embedding_model_path || config.embedding_model} does not load: ${(error as Error).message}`,
      "point ISARTOR__EMBEDDING_MODEL_PATH at a transformers.js model directory (config.json, tokenizer.json, onnx/model.onnx), set ISARTOR_HF_CACHE_DIR (or HF_HOME; default ~/.cache/huggingface) to where the model is cached, or use the default use-lite"
    )
  }
}

const checkProxies = (env: NodeJS.ProcessEnv): Check => {
  const set = [...PROXY_SERVER_VARS, ...CA_BUNDLE_VARS].filter((name) => env[name])
  if (set.length === 0) return check("proxy variables", "ok", "none set")
  // The running isartor proxy is what they should point at; only a local proxy that is gone breaks other tools.
  const ours = liveness(stateDir(), "proxy")
  const ourPort = ours.kind === "running" ? new URL(ours.running.url).port : undefined
  const local = set.filter((name) =>
    PROXY_SERVER_VARS.includes(name) && /localhost|127\.0\.0\.1|\[::1\]/.test(env[name] ?? "") &&
    (ourPort === undefined || !new RegExp(`:${ourPort}(/|$)`).test(env[name] ?? ""))
  )
  return check(
    "proxy variables",
    local.length > 0 ? "warn" : "ok",
    `${set.map((name) => `${name}=${env[name]}`).join(", ")}${
      local.length > 0 ? " — a local proxy left behind by an earlier session breaks other tools once it is gone" : ""
    }`,
    local.length > 0 ? proxyCleanupLines().join("; ") : ""
  )
}

/** The checks of a configuration that loads: its file's precedence, the provider, the services it names. */
const configurationChecks = async (
  gateway: Record<string, string | undefined>,
  loaded: LoadedConfig,
  host: CommandHost
): Promise<Array<Check>> => {
  const fileTree = loaded.file
    ? await import("node:fs/promises").then(({ readFile }) => readFile(loaded.file!, "utf8")).then((text) =>
      loaded.file!.endsWith(".json") ? JSON.parse(text) : import("smol-toml").then(({ parse }) => parse(text))
    )
    : {}
  return [
    check("configuration", "ok", "valid"),
    checkPrecedence(gateway, loaded, fileTree as Record<string, unknown>),
    ...checkProvider(loaded),
    ...await Promise.all([
      checkUpstream(loaded),
      checkSidecar(loaded),
      checkRedis(loaded),
      checkOtel(loaded),
      checkPort(loaded)
    ]),
    await checkModel(loaded, gateway, host),
    // Which knobs decide an L1b hit under this configuration: the one an operator should turn.
    check(
      "L1b settings",
      loaded.config.cache_mode === "exact" ? "skip" : "ok",
      l1bSettingsLine(loaded.config, configDecidesByLearning(loaded.config))
    )
  ]
}

const printChecks = (checks: ReadonlyArray<Check>, failed: number) => {
  const mark = { ok: green("ok  "), warn: yellow("warn"), fail: red("FAIL"), skip: "skip" }
  for (const entry of checks) {
    console.log(`${mark[entry.verdict]}  ${entry.name}: ${entry.detail}`)
    if (entry.fix) console.log(`      fix: ${entry.fix}`)
  }
  console.log(failed === 0 ? green("no problems found") : red(`${failed} check(s) failed`))
}

/** `isartor doctor`: the troubleshooting guide as code; exit 1 when any check fails. */
export const doctor = async (
  options: { readonly config?: string; readonly json?: boolean },
  host: CommandHost
): Promise<number> => {
  const env = process.env
  const gateway = gatewayEnv({ config: options.config }, env)
  let loaded: LoadedConfig | undefined
  let configProblem: string | undefined
  try {
    loaded = await effectiveConfig(gateway)
  } catch (error) {
    configProblem = (error as Error).message
  }
  const checks: Array<Check> = [...checkEnvironment(env, loaded)]
  if (!loaded) {
    checks.push(check(
      "configuration",
      "fail",
      configProblem ?? "invalid",
      `fix the value named above (file: ${gateway[CONFIG_FILE_VAR] ?? "isartor.toml"}; variables: ISARTOR__*)`
    ))
  } else checks.push(...await configurationChecks(gateway, loaded, host))
  checks.push(checkProxies(env))
  checks.push(await checkProxy(gateway), await checkProxyCa(gateway))
  const failed = checks.filter((entry) => entry.verdict === "fail").length
  if (options.json) printJson({ ok: failed === 0, checks })
  else printChecks(checks, failed)
  return failed === 0 ? 0 : 1
}
