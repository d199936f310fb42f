import { Effect, Redacted } from "effect"
import assert from "node:assert/strict"
import { readFile } from "node:fs/promises"
import { describe, it } from "node:test"
import { loadConfig } from "../../core/config/Config.ts"
import { configLeaves, envVarName } from "../../core/config/ConfigSpec.ts"
import { startGateway } from "../../core/Gateway.ts"

const load = (env: Record<string, string>, files: Record<string, string> = {}) =>
  Effect.runPromise(loadConfig({ env, readTextFile: async (path) => files[path] }))

const loadError = (env: Record<string, string>, files: Record<string, string> = {}) =>
  Effect.runPromise(Effect.flip(loadConfig({ env, readTextFile: async (path) => files[path] }))).then((error) =>
    error.message
  )

describe("configuration", () => {
  it("has the documented defaults", async () => {
    const { config, warnings } = await load({})
    assert.equal(config.host_port, "0.0.0.0:8080")
    assert.equal(config.cache_mode, "both")
    assert.equal(config.similarity_threshold, undefined, "unset: each L1b decision keeps its own floor")
    assert.equal(config.cache_ttl_secs, 300)
    assert.equal(config.cache_max_capacity, 10000)
    assert.equal(config.llm_provider, "openai")
    assert.equal(config.external_llm_model, "gpt-4o-mini")
    assert.equal(config.l3_timeout_secs, 120)
    assert.equal(Redacted.value(config.gateway_api_key), "")
    assert.equal(config.layer2.sidecar_url, "http://127.0.0.1:8081")
    assert.equal(config.layer2.timeout_seconds, 30)
    assert.deepEqual(warnings, [])
  })

  it("layers defaults ← config file ← ISARTOR__ variables, with __ nesting", async () => {
    const toml = `cache_ttl_secs = 60\ncache_mode = "exact"\n[layer2]\ntimeout_seconds = 5\nmodel_name = "from-file"\n`
    const { config, file } = await load(
      { ISARTOR__CACHE_TTL_SECS: "90", ISARTOR__LAYER2__MODEL_NAME: "from-env" },
      { "isartor.toml": toml }
    )
    assert.equal(file, "isartor.toml")
    assert.equal(config.cache_ttl_secs, 90, "env beats file")
    assert.equal(config.cache_mode, "exact", "file beats default")
    assert.equal(config.layer2.timeout_seconds, 5)
    assert.equal(config.layer2.model_name, "from-env")
    assert.equal(config.cache_max_capacity, 10000, "default stays")
  })

  it("takes a list as comma-separated text or, in a file, as an array", async () => {
    const toml = `fallback_providers = ["anthropic", "gemini, xai"]\ncache_controls_allowed = "no-cache, no-store"\n`
    const { config } = await load({}, { "isartor.toml": toml })
    assert.deepEqual(config.fallback_providers, ["anthropic", "gemini", "xai"])
    assert.deepEqual(config.cache_controls_allowed, ["no-cache", "no-store"])
    const fromEnv = await load({ ISARTOR__FALLBACK_PROVIDERS: " anthropic ,,gemini" })
    assert.deepEqual(fromEnv.config.fallback_providers, ["anthropic", "gemini"])
  })

  it("reads a JSON config file named by ISARTOR__CONFIG_FILE", async () => {
    const { config } = await load(
      { ISARTOR__CONFIG_FILE: "/etc/isartor.json" },
      { "/etc/isartor.json": JSON.stringify({ similarity_threshold: 0.9, layer2: { classifier_mode: "binary" } }) }
    )
    assert.equal(config.similarity_threshold, 0.9)
    assert.equal(config.layer2.classifier_mode, "binary")
    assert.match(
      await loadError({ ISARTOR__CONFIG_FILE: "/missing.toml" }),
      /config file \/missing\.toml .*does not exist/
    )
  })

  it("stops on a bad value with the variable's name and the form expected", async () => {
    assert.match(
      await loadError({ ISARTOR__CACHE_TTL_SECS: "soon" }),
      /ISARTOR__CACHE_TTL_SECS = "soon": expected a whole number/
    )
    assert.match(
      await loadError({ ISARTOR__CACHE_MODE: "fuzzy" }),
      /ISARTOR__CACHE_MODE = "fuzzy": expected one of exact, semantic, both/
    )
    assert.match(await loadError({ ISARTOR__HOST_PORT: "8080" }), /ISARTOR__HOST_PORT = "8080": expected host:port/)
    assert.match(
      await loadError({ ISARTOR__SIMILARITY_THRESHOLD: "1.5" }),
      /ISARTOR__SIMILARITY_THRESHOLD = "1.5": expected a number between 0 and 1/
    )
    assert.match(
      await loadError({ ISARTOR__LAYER2__TIMEOUT_SECONDS: "0" }),
      /ISARTOR__LAYER2__TIMEOUT_SECONDS = "0": expected a positive integer/
    )
    assert.match(
      await loadError({ ISARTOR__ENABLE_MONITORING: "perhaps" }),
      /ISARTOR__ENABLE_MONITORING = "perhaps": expected true or false/
    )
    assert.match(
      await loadError({ ISARTOR__EXTERNAL_LLM_URL: "api.openai.com" }),
      /ISARTOR__EXTERNAL_LLM_URL = "api.openai.com": expected a URL starting with http:\/\/ or https:\/\//
    )
    assert.match(
      await loadError({}, { "isartor.toml": "cache_ttl_secs = \"x\"" }),
      /"cache_ttl_secs" in isartor\.toml = "x": expected a whole number/
    )
    assert.match(await loadError({}, { "isartor.toml": "[layer2" }), /config file isartor\.toml is not valid TOML/)
  })

  it("warns about single-underscore and unknown variables, naming the closest valid key", async () => {
    const { warnings } = await load({
      ISARTOR_CACHE_TTL_SECS: "5",
      ISARTOR__CACHE_TTL_SEC: "5",
      ISARTOR__LAYER2__SIDECAR_UR: "x"
    })
    assert.equal(warnings.length, 3)
    assert.match(warnings.join("\n"), /ISARTOR_CACHE_TTL_SECS .*did you mean ISARTOR__CACHE_TTL_SECS\?/)
    assert.match(warnings.join("\n"), /ISARTOR__CACHE_TTL_SEC .*did you mean ISARTOR__CACHE_TTL_SECS\?/)
    assert.match(warnings.join("\n"), /ISARTOR__LAYER2__SIDECAR_UR .*did you mean ISARTOR__LAYER2__SIDECAR_URL\?/)
    // The runtime's own cache-directory variables are not configuration keys, and not mistakes.
    assert.deepEqual((await load({ ISARTOR_HF_CACHE_DIR: "/tmp/hf", ISARTOR_CACHE_DIR: "/tmp/isartor" })).warnings, [])
    // The command's own variables and what `isartor connect` exports are not settings mistyped.
    const commandVars = { ISARTOR_HOME: "/tmp/state", ISARTOR_URL: "http://127.0.0.1:8080", ISARTOR_API_KEY: "k" }
    assert.deepEqual((await load(commandVars)).warnings, [])
    const fromFile = await load({}, { "isartor.toml": "cache_ttl = 5\n" })
    assert.match(
      fromFile.warnings[0] ?? "",
      /unknown key "cache_ttl" in isartor\.toml; did you mean "cache_ttl_secs"\?/
    )
  })

  it("stops on an unknown provider or a malformed key, and never prints the key", async () => {
    const start = (env: Record<string, string>) =>
      startGateway({ env, readTextFile: async () => undefined }, {
        log: { info: () => undefined, warn: () => undefined }
      })
        .then(() => "started", (error: Error) => error.message)
    assert.match(
      await start({ ISARTOR__LLM_PROVIDER: "openia" }),
      /ISARTOR__LLM_PROVIDER = "openia": expected one of openai/
    )
    const message = await start({ ISARTOR__EXTERNAL_LLM_API_KEY: "sk bad key" })
    assert.match(message, /ISARTOR__EXTERNAL_LLM_API_KEY: expected/)
    assert.ok(!message.includes("sk bad key"))
  })

  it("names the budget field that is wrong and why, in a file or a variable", async () => {
    const inFile = (table: string) => loadError({}, { "isartor.toml": table })
    assert.match(
      await inFile(`[budgets.openai]\ndaily_tokens = "x"\n`),
      /"budgets" in isartor\.toml: budgets\.openai\.daily_tokens = "x": expected a whole number$/
    )
    assert.match(
      await inFile(`[budgets.openai]\ndaily_tokens = 1.5\n`),
      /budgets\.openai\.daily_tokens = 1\.5: expected a whole number$/
    )
    assert.match(
      await inFile(`[budgets.openai]\ndaily_tokens = 10\naction = "stop"\n`),
      /budgets\.openai\.action = "stop": expected one of block, fallback, warn$/
    )
    assert.match(
      await inFile(`[budgets.caller."team-web"]\nmonthly_cost_usd = -1\n`),
      /budgets\.caller\."team-web"\.monthly_cost_usd = -1: expected a number of at least 0/
    )
    assert.match(
      await inFile(`[budgets.openai]\ndialy_tokens = 10\n`),
      /budgets\.openai\.dialy_tokens: not a budget field/
    )
    assert.match(
      await loadError({ ISARTOR__BUDGETS: `{"openai": {"daily_tokens": 10, "warn_at": 2}}` }),
      /ISARTOR__BUDGETS: budgets\.openai\.warn_at = 2: expected a share in \(0, 1\]$/
    )
  })

  it("never echoes a secret in an error", async () => {
    const message = await loadError({ ISARTOR__GATEWAY_API_KEY: "secret-value", ISARTOR__CACHE_TTL_SECS: "x" })
    assert.ok(!message.includes("secret-value"))
  })

  it("documents every key in docs/configuration.md with its variable and default", async () => {
    const readme = await readFile(new URL("../../docs/configuration.md", import.meta.url), "utf8")
    for (const [path, leaf] of configLeaves()) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${path.join(".")}\` |`))
      assert.ok(row, `docs/configuration.md has a row for ${path.join(".")}`)
      assert.ok(row.includes(`\`${envVarName(path)}\``), `row names ${envVarName(path)}`)
      assert.ok(row.includes(leaf.defaultText), `row gives the default of ${path.join(".")}`)
    }
  })
})
