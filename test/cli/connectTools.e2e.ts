import { parse as parseEnv } from "dotenv"
import { parse as parseJsonc } from "jsonc-parser"
import assert from "node:assert/strict"
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, it } from "node:test"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

// `isartor connect gemini|opencode|openclaw|cursor|claude-desktop` as a user runs it (spawned, clean HOME), on each
// tool's own files as users have them: the keys it adds read back as the tool reads them, everything else stays, a
// dry run and a second connect write nothing, and a disconnect puts every file back byte for byte.

const URL_ = "http://127.0.0.1:18080"
const KEY = "gateway-key-7"
const fixture = (name: string) => readFileSync(join(projectRoot, "test/fixtures/connect", name), "utf8")
const json = (text: string) => parseJsonc(text, [], { allowTrailingComma: true }) as Record<string, any>

/** `isartor mcp` as the command under test starts itself: node and bin/isartor, absolute. */
const MCP_ENTRY = {
  command: process.execPath,
  args: [join(projectRoot, "bin/isartor"), "mcp"],
  env: { ISARTOR_URL: URL_, ISARTOR_API_KEY: KEY }
}

interface ToolFile {
  /** Relative to HOME. */
  readonly path: string
  readonly fixture: string
  readonly parse: (text: string) => Record<string, any>
  /** The file as the tool reads it after a connect, from the fixture as it read it. */
  readonly connected: (before: Record<string, any>) => Record<string, any>
}

interface Case {
  readonly tool: string
  readonly name: string
  readonly files: ReadonlyArray<ToolFile>
  /** Lines of the user's own the edit must leave exactly as they were (comments, layout). */
  readonly kept: ReadonlyArray<RegExp>
  readonly printed?: RegExp
}

const CASES: ReadonlyArray<Case> = [
  {
    tool: "gemini",
    name: "Gemini CLI",
    files: [
      {
        path: ".gemini/.env",
        fixture: "gemini.env",
        parse: parseEnv,
        connected: (env) => ({ ...env, GEMINI_API_KEY: KEY, GOOGLE_GEMINI_BASE_URL: URL_ })
      },
      {
        path: ".gemini/settings.json",
        fixture: "gemini-settings.json",
        parse: json,
        connected: (settings) => ({
          ...settings,
          security: { ...settings.security, auth: { selectedType: "gemini-api-key" } }
        })
      }
    ],
    kept: [
      /^# Gemini CLI on this machine \(loaded into its environment\)$/m,
      /^export GEMINI_MODEL="gemini-2\.5-pro" {3}# pinned while 3 is in preview$/m,
      /^ {2}\/\/ Gemini CLI user settings \(JSON with comments\)$/m,
      /^ {2}"ui": \{ "theme": "GitHub", "footer": \{ "hideCWD": true \} \},$/m
    ]
  },
  {
    tool: "opencode",
    name: "opencode",
    files: [{
      path: ".config/opencode/opencode.jsonc",
      fixture: "opencode.jsonc",
      parse: json,
      connected: (config) => ({
        ...config,
        model: "isartor/claude-sonnet-4-5",
        provider: {
          ...config.provider,
          isartor: {
            npm: "@ai-sdk/openai-compatible",
            name: "Isartor",
            options: { baseURL: `${URL_}/v1`, apiKey: "{env:ISARTOR_API_KEY}" },
            models: { "claude-sonnet-4-5": { name: "claude-sonnet-4-5" } }
          }
        }
      })
    }],
    kept: [
      /^ {2}\/\/ the model for every project unless one says otherwise$/m,
      /^ {6}"options": \{ "timeout": 600000 \},$/m
    ]
  },
  {
    tool: "openclaw",
    name: "OpenClaw",
    files: [{
      path: ".openclaw/openclaw.json",
      fixture: "openclaw.json",
      parse: json,
      connected: (config) => ({
        ...config,
        agents: {
          defaults: {
            ...config.agents.defaults,
            model: { ...config.agents.defaults.model, primary: "isartor/claude-opus-4-6" }
          }
        },
        models: {
          ...config.models,
          providers: {
            ...config.models.providers,
            isartor: {
              baseUrl: `${URL_}/v1`,
              api: "openai-completions",
              apiKey: KEY,
              models: [{ id: "claude-opus-4-6", name: "claude-opus-4-6" }]
            }
          }
        }
      })
    }],
    kept: [/^ {8}"fallbacks": \["openai\/gpt-5\.2"\]$/m, /"apiKey": "\$\{MOONSHOT_API_KEY\}"/]
  },
  {
    tool: "cursor",
    name: "Cursor",
    files: [{
      path: ".cursor/mcp.json",
      fixture: "cursor-mcp.json",
      parse: json,
      connected: (config) => ({ mcpServers: { ...config.mcpServers, isartor: MCP_ENTRY } })
    }],
    kept: [/^ {6}"args": \["-y", "@playwright\/mcp@latest"\]$/m],
    printed: /"Override OpenAI Base URL": http:\/\/127\.0\.0\.1:18080\/v1, and "OpenAI API Key": the gateway key/
  },
  {
    tool: "claude-desktop",
    name: "Claude Desktop",
    files: [{
      path: ".config/Claude/claude_desktop_config.json",
      fixture: "claude-desktop-config.json",
      parse: json,
      connected: (config) => ({ ...config, mcpServers: { ...config.mcpServers, isartor: MCP_ENTRY } })
    }],
    kept: [/^\t"preferences": \{ "menuBarEnabled": true \}$/m, /^\t\t\t"command": "npx",$/m],
    printed: /restart Claude Desktop/
  }
]

const records = (home: string) => {
  try {
    return readdirSync(join(home, "state", "connect"))
  } catch {
    return []
  }
}

const place = (home: string, file: ToolFile) => {
  const path = join(home, file.path)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, fixture(file.fixture))
  chmodSync(path, 0o640)
  return path
}

const stateOf = async (connect: (...args: Array<string>) => ReturnType<typeof run>, tool: string) => {
  const listed = await connect("--list", "--json", "--url", URL_, "--key", KEY)
  const tools = (JSON.parse(listed.stdout) as { tools: Array<{ tool: string; state: string }> }).tools
  return tools.find((one) => one.tool === tool)?.state
}

describe("isartor connect edits each tool's own files, and --disconnect puts them back byte for byte", () => {
  for (const { files, kept, name, printed, tool } of CASES) {
    it(`${tool}: ${files.map((file) => file.path).join(", ")}`, async () => {
      const user = userEnv()
      const connect = (...args: Array<string>) => run(["connect", ...args], user.env)
      try {
        const paths = files.map((file) => place(user.home, file))
        const originals = paths.map((path) => readFileSync(path, "utf8"))
        const now = () => paths.map((path) => readFileSync(path, "utf8"))

        const dry = await connect(tool, "--dry-run", "--url", URL_, "--key", KEY)
        assert.equal(dry.code, 0, dry.stderr)
        assert.match(dry.stdout, /dry run/)
        assert.doesNotMatch(dry.stdout, new RegExp(KEY), "the key is never printed")
        assert.deepEqual(now(), originals, "a dry run writes nothing")
        assert.deepEqual(records(user.home), [])

        const first = await connect(tool, "--url", URL_, "--key", KEY)
        assert.equal(first.code, 0, first.stderr)
        assert.match(first.stdout, new RegExp(`connected ${name} to http://127\\.0\\.0\\.1:18080`))
        assert.doesNotMatch(first.stdout + first.stderr, new RegExp(KEY), "the key is never printed")
        if (printed) assert.match(first.stdout, printed)
        const connected = now()
        files.forEach((file, i) => {
          assert.deepEqual(file.parse(connected[i]!), file.connected(file.parse(originals[i]!)), file.path)
          assert.equal(statSync(paths[i]!).mode & 0o777, 0o640, "permissions kept")
        })
        for (const line of kept) assert.match(connected.join("\n"), line, "the user's own lines stay as they were")
        assert.equal(await stateOf(connect, tool), "connected")

        const second = await connect(tool, "--url", URL_, "--key", KEY)
        assert.equal(second.code, 0, second.stderr)
        assert.match(second.stdout, /already goes through/)
        assert.deepEqual(now(), connected, "connecting twice changes nothing")

        const dryUndo = await connect(tool, "--disconnect", "--dry-run")
        assert.equal(dryUndo.code, 0, dryUndo.stderr)
        assert.deepEqual(now(), connected, "a dry run of the undo writes nothing")

        const undone = await connect(tool, "--disconnect")
        assert.equal(undone.code, 0, undone.stderr)
        assert.deepEqual(now(), originals, "every file is back byte for byte")
        assert.deepEqual(records(user.home), [], "the undo records are gone once used")
        assert.equal(await stateOf(connect, tool), "not connected")
      } finally {
        user.cleanup()
      }
    })
  }
})

describe("isartor connect on a machine without the tool's files", () => {
  it("creates them (owner only: they may hold the key) with the gateway's default model, and removes them again", async () => {
    const user = userEnv({ ISARTOR__EXTERNAL_LLM_MODEL: "gpt-5-mini" })
    const connect = (...args: Array<string>) => run(["connect", ...args], user.env)
    try {
      for (const tool of ["gemini", "opencode", "openclaw", "cursor", "claude-desktop"]) {
        const result = await connect(tool, "--url", URL_, "--key", KEY)
        assert.equal(result.code, 0, result.stderr)
      }
      const opencode = join(user.home, ".config/opencode/opencode.json")
      assert.equal(json(readFileSync(opencode, "utf8")).model, "isartor/gpt-5-mini")
      const openclaw = json(readFileSync(join(user.home, ".openclaw/openclaw.json"), "utf8"))
      assert.equal(openclaw.agents.defaults.model.primary, "isartor/gpt-5-mini")
      assert.deepEqual(parseEnv(readFileSync(join(user.home, ".gemini/.env"), "utf8")), {
        GOOGLE_GEMINI_BASE_URL: URL_,
        GEMINI_API_KEY: KEY
      })
      assert.equal(statSync(join(user.home, ".gemini/.env")).mode & 0o777, 0o600)
      // Undone last first: ~/.config, made for opencode, holds Claude's folder until that one goes.
      for (const tool of ["claude-desktop", "cursor", "openclaw", "opencode", "gemini"]) {
        const result = await connect(tool, "--disconnect")
        assert.equal(result.code, 0, result.stderr)
        assert.match(result.stdout, /removed .* \(isartor connect created it\)/)
      }
      assert.deepEqual(
        readdirSync(user.home).filter((name) => name !== "state"),
        [],
        "every file and folder connect created is gone"
      )
    } finally {
      user.cleanup()
    }
  })

  it("refuses an OpenClaw config in JSON5 syntax it cannot edit in place: exit 1, the reason, nothing written", async () => {
    const user = userEnv()
    try {
      const original = fixture("openclaw-json5.json")
      const file = place(user.home, { path: ".openclaw/openclaw.json", fixture: "openclaw-json5.json" } as ToolFile)
      const result = await run(["connect", "openclaw", "--url", URL_], user.env)
      assert.equal(result.code, 1)
      assert.match(
        result.stderr,
        /cannot parse ~\/\.openclaw\/openclaw\.json as JSON with comments: .*nothing was changed/
      )
      assert.equal(readFileSync(file, "utf8"), original)
      assert.deepEqual(records(user.home), [])
      assert.deepEqual(readdirSync(join(user.home, ".openclaw")), ["openclaw.json"], "no temporary file left behind")
    } finally {
      user.cleanup()
    }
  })
})
