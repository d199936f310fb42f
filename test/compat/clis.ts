import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, realpath, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Claude Code, Codex and Gemini CLI, run the way a user runs them, from `.ci/clis` (where `.ci/run` installs pinned versions;
 * they are not project dependencies). Each run gets a fresh HOME and working directory, its base URL pointed at a
 * loopback server, telemetry and updates off, and a proxy that leads nowhere for anything else, so neither CLI can
 * reach the internet.
 */
export type Cli = "claude" | "codex" | "gemini"

const root = fileURLToPath(new URL("../..", import.meta.url))
export const cliPath = (cli: Cli) => join(root, ".ci/clis/node_modules/.bin", cli)
export const cliInstalled = (cli: Cli) => existsSync(cliPath(cli))

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** The run's HOME and working directory (already deleted), to scrub from what it sent. */
  readonly home: string
  readonly cwd: string
}

export const CLAUDE_KEY = "sk-ant-api03-compat-fake-key-0123456789"
export const CODEX_KEY = "sk-proj-compat-fake-key-0123456789"
export const GEMINI_KEY = "AIzaSy-compat-fake-key-0123456789"

/** Where a CLI sends its requests: a base URL, or a base URL and the API key to send (else a fake one). */
export type Endpoint = string | { readonly url: string; readonly apiKey: string }
const urlOf = (endpoint: Endpoint) => (typeof endpoint === "string" ? endpoint : endpoint.url)
const keyOf = (endpoint: Endpoint, fallback: string) => (typeof endpoint === "string" ? fallback : endpoint.apiKey)

/** `proxy`: where anything but loopback goes; a port where nothing listens, unless a test records what comes. */
const offline = (home: string, proxy = "http://127.0.0.1:9") => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: home,
  LANG: "C.UTF-8",
  HTTPS_PROXY: proxy,
  HTTP_PROXY: proxy,
  ALL_PROXY: proxy,
  NO_PROXY: "127.0.0.1,localhost"
})

/** Runs the CLI once per argument list, one after the other, in one HOME and working directory (one project). */
const run = async (
  cli: Cli,
  runs: ReadonlyArray<Array<string>>,
  env: (home: string) => Promise<Record<string, string>>,
  proxy?: string
): Promise<Array<CliRun>> => {
  const home = await realpath(await mkdtemp(join(tmpdir(), `isartor-${cli}-home-`)))
  const cwd = join(home, "project")
  await mkdir(cwd)
  try {
    const environment = { ...offline(home, proxy), ...(await env(home)) }
    const results: Array<CliRun> = []
    for (const args of runs) {
      results.push(
        await new Promise<CliRun>((resolve) => {
          execFile(
            cliPath(cli),
            args,
            { cwd, env: environment, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
            (error, stdout, stderr) => {
              const code = error ? (typeof error.code === "number" ? error.code : null) : 0
              resolve({ code, stdout, stderr, home, cwd })
            }
          ).stdin?.end()
        })
      )
    }
    return results
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}

/** `claude -p <prompt>` for each prompt, against an Anthropic Messages endpoint (its base URL has no `/v1`). */
export const runClaude = (endpoint: Endpoint, ...prompts: Array<string>) =>
  run("claude", prompts.map((prompt) => ["-p", prompt]), async () => ({
    ANTHROPIC_BASE_URL: urlOf(endpoint),
    ANTHROPIC_API_KEY: keyOf(endpoint, CLAUDE_KEY),
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_ERROR_REPORTING: "1",
    DISABLE_BUG_COMMAND: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1"
  }))

/** `codex exec <prompt>` for each prompt, with a model provider whose Responses API is at the endpoint (`…/v1`). */
export const runCodex = (endpoint: Endpoint, ...prompts: Array<string>) =>
  run("codex", prompts.map((prompt) => ["exec", "--skip-git-repo-check", prompt]), async (home) => {
    const codexHome = join(home, ".codex")
    await mkdir(codexHome)
    await writeFile(
      join(codexHome, "config.toml"),
      [
        `model = "gpt-5-codex"`,
        `model_provider = "isartor"`,
        `check_for_update_on_startup = false`,
        `[analytics]`,
        `enabled = false`,
        `[model_providers.isartor]`,
        `name = "isartor"`,
        `base_url = "${urlOf(endpoint)}"`,
        `env_key = "ISARTOR_COMPAT_KEY"`,
        `wire_api = "responses"`,
        ""
      ].join("\n")
    )
    return { CODEX_HOME: codexHome, ISARTOR_COMPAT_KEY: keyOf(endpoint, CODEX_KEY) }
  })

/**
 * `gemini -m gemini-2.5-pro -p <prompt>` for each prompt, with a Gemini API key and `GOOGLE_GEMINI_BASE_URL` at the endpoint (no
 * `/v1beta`: the CLI adds it). Its settings turn off updates, usage statistics and telemetry; the working
 * directory is trusted (headless runs refuse an untrusted one). `proxy`: see `offline`.
 */
export const runGemini = (endpoint: Endpoint, prompts: ReadonlyArray<string>, proxy?: string) =>
  // A model named, as a user who picks one does: the CLI then asks no router model first.
  run("gemini", prompts.map((prompt) => ["-m", "gemini-2.5-pro", "-p", prompt]), async (home) => {
    await mkdir(join(home, ".gemini"))
    await writeFile(
      join(home, ".gemini", "settings.json"),
      JSON.stringify({
        general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
        privacy: { usageStatisticsEnabled: false },
        telemetry: { enabled: false },
        security: { auth: { selectedType: "gemini-api-key" } }
      })
    )
    return {
      GEMINI_API_KEY: keyOf(endpoint, GEMINI_KEY),
      GOOGLE_GEMINI_BASE_URL: urlOf(endpoint),
      GEMINI_CLI_TRUST_WORKSPACE: "true",
      GEMINI_TELEMETRY_ENABLED: "false"
    }
  }, proxy)
