import assert from "node:assert/strict"
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, it } from "node:test"
import { parse } from "smol-toml"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

// `isartor connect claude|codex` as a user runs it (spawned, clean HOME): the tools' own files with user content,
// edited in place and put back byte for byte.

const fixture = (name: string) => readFileSync(join(projectRoot, "test/fixtures/connect", name), "utf8")
const URL_ = "http://127.0.0.1:18080"

const withUser = async (
  extra: Record<string, string>,
  body: (user: ReturnType<typeof userEnv>, connect: (...args: Array<string>) => ReturnType<typeof run>) => Promise<void>
) => {
  const user = userEnv(extra)
  try {
    await body(user, (...args) => run(["connect", ...args], user.env))
  } finally {
    user.cleanup()
  }
}

const records = (home: string) => {
  try {
    return readdirSync(join(home, "state", "connect"))
  } catch {
    return []
  }
}

const placed = (dir: string, name: string, text: string, mode = 0o640) => {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, name)
  writeFileSync(file, text)
  chmodSync(file, mode)
  return file
}

describe("isartor connect claude", () => {
  it("adds its env keys to the user settings, changes nothing a second time, and disconnect restores the file byte for byte", async () => {
    await withUser({}, async (user, connect) => {
      const original = fixture("claude-settings.json")
      const file = placed(join(user.home, ".claude"), "settings.json", original)

      const first = await connect("claude", "--url", URL_, "--key", "gateway-key-1")
      assert.equal(first.code, 0, first.stderr)
      assert.match(first.stdout, /connected Claude Code to http:\/\/127\.0\.0\.1:18080/)
      assert.doesNotMatch(first.stdout, /gateway-key-1/, "the key is never printed")
      const connected = readFileSync(file, "utf8")
      const expected = JSON.parse(original)
      expected.env.ANTHROPIC_BASE_URL = URL_
      expected.env.ANTHROPIC_AUTH_TOKEN = "gateway-key-1"
      assert.deepEqual(JSON.parse(connected), expected)
      assert.match(connected, /^ {4}"permissions": \{$/m, "the file keeps its own 4-space indentation")
      assert.equal(statSync(file).mode & 0o777, 0o640, "permissions kept")

      const second = await connect("claude", "--url", URL_, "--key", "gateway-key-1")
      assert.equal(second.code, 0)
      assert.match(second.stdout, /already goes through/)
      assert.equal(readFileSync(file, "utf8"), connected, "connecting twice changes nothing")

      assert.equal(records(user.home).length, 1, "connecting left one undo record")
      const undone = await connect("claude", "--disconnect")
      assert.equal(undone.code, 0, undone.stderr)
      assert.equal(readFileSync(file, "utf8"), original, "the previous ANTHROPIC_BASE_URL is back, byte for byte")
      assert.equal(statSync(file).mode & 0o777, 0o640)
      assert.deepEqual(records(user.home), [], "the undo record is gone once used")

      const again = await connect("claude", "--disconnect")
      assert.equal(again.code, 0)
      assert.match(again.stdout, /was not connected/)
      assert.equal(readFileSync(file, "utf8"), original)
    })
  })

  it("honours CLAUDE_CONFIG_DIR, and takes the URL from the running gateway and the key from its configuration", async () => {
    await withUser({ ISARTOR__GATEWAY_API_KEY: "configured-key-2" }, async (user, connect) => {
      const configDir = join(user.home, "elsewhere", "claude")
      user.env.CLAUDE_CONFIG_DIR = configDir
      // A gateway `isartor up --detach` recorded: this test process stands in for it (alive, not the command's own).
      mkdirSync(join(user.home, "state"), { recursive: true })
      writeFileSync(
        join(user.home, "state", "isartor.pid"),
        JSON.stringify({ pid: process.pid, url: "http://127.0.0.1:4567", startedAt: Date.now(), version: "test" })
      )
      const result = await connect("claude")
      assert.equal(result.code, 0, result.stderr)
      const file = join(configDir, "settings.json")
      assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
        env: { ANTHROPIC_BASE_URL: "http://127.0.0.1:4567", ANTHROPIC_AUTH_TOKEN: "configured-key-2" }
      })
      assert.equal(statSync(file).mode & 0o777, 0o600, "a new file holding a key is the owner's only")
      assert.equal(existsSync(join(user.home, ".claude")), false, "~/.claude is not touched")

      const undone = await connect("claude", "--disconnect")
      assert.match(undone.stdout, /removed .*settings\.json \(isartor connect created it\)/)
      assert.equal(existsSync(join(user.home, "elsewhere")), false, "the directories it created are gone too")
    })
  })

  it("--project writes the project's settings.local.json, and disconnect removes only its own keys after later edits", async () => {
    await withUser({}, async (user, connect) => {
      const project = join(user.home, "project")
      const file = placed(
        join(project, ".claude"),
        "settings.local.json",
        "{\n  \"permissions\": {\n    \"allow\": []\n  }\n}\n",
        0o644
      )
      const before = readFileSync(file, "utf8")
      const inProject = (...args: Array<string>) => run(["connect", ...args], user.env, { cwd: project })
      assert.equal((await inProject("claude", "--project", "--url", URL_)).code, 0)
      assert.equal(existsSync(join(user.home, ".claude")), false, "the user settings are not touched")
      // The user (or Claude Code) edits the file afterwards: the undo keeps that edit and drops only what it wrote.
      const edited = JSON.parse(readFileSync(file, "utf8"))
      edited.permissions.allow.push("Bash(ls)")
      edited.env.MY_OWN = "kept"
      writeFileSync(file, JSON.stringify(edited, null, 2) + "\n")

      const undone = await inProject("claude", "--project", "--disconnect")
      assert.equal(undone.code, 0, undone.stderr)
      assert.match(undone.stdout, /the rest of your edits since stay/)
      assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
        permissions: { allow: ["Bash(ls)"] },
        env: { MY_OWN: "kept" }
      })
      assert.notEqual(readFileSync(file, "utf8"), before)
    })
  })

  it("refuses a settings file it cannot parse: exit 1, names the file and the reason, writes nothing", async () => {
    await withUser({}, async (user, connect) => {
      const broken = fixture("claude-broken.json")
      const file = placed(join(user.home, ".claude"), "settings.json", broken)
      const result = await connect("claude", "--url", URL_)
      assert.equal(result.code, 1)
      assert.match(result.stderr, /cannot parse ~\/\.claude\/settings\.json as JSON: .* at line 5, column 3/)
      assert.match(result.stderr, /nothing was changed/)
      assert.equal(readFileSync(file, "utf8"), broken)
      assert.deepEqual(records(user.home), [])
      assert.deepEqual(readdirSync(join(user.home, ".claude")), ["settings.json"], "no temporary file left behind")
    })
  })
})

describe("isartor connect codex", () => {
  it("adds a model provider in CODEX_HOME/config.toml, keeps comments and tables, and disconnect restores it exactly", async () => {
    await withUser({}, async (user, connect) => {
      const codexHome = join(user.home, "codex-home")
      user.env.CODEX_HOME = codexHome
      const original = fixture("codex-config.toml")
      const file = placed(codexHome, "config.toml", original, 0o600)

      const first = await connect("codex", "--url", `${URL_}/v1/`, "--key", "gateway-key-3")
      assert.equal(first.code, 0, first.stderr)
      const connected = readFileSync(file, "utf8")
      const expected = parse(original) as Record<string, any>
      expected.model_provider = "isartor"
      expected.model_providers.isartor = {
        name: "Isartor",
        base_url: `${URL_}/v1`,
        wire_api: "responses",
        env_key: "ISARTOR_API_KEY"
      }
      assert.deepEqual(JSON.parse(JSON.stringify(parse(connected))), JSON.parse(JSON.stringify(expected)))
      assert.match(connected, /^# docs server$/m, "comments stay")
      assert.match(connected, /^model = "gpt-5-codex" {12}# default model$/m)
      assert.doesNotMatch(connected, /gateway-key-3/, "the key stays in the environment, not in the file")
      assert.equal(statSync(file).mode & 0o777, 0o600)

      assert.equal((await connect("codex", "--url", URL_, "--key", "gateway-key-3")).code, 0)
      assert.equal(readFileSync(file, "utf8"), connected, "connecting twice changes nothing")

      const status = await connect("--list", "--json", "--url", URL_, "--key", "gateway-key-3")
      const tools = (JSON.parse(status.stdout) as { tools: Array<{ tool: string; state: string }> }).tools
      assert.equal(tools.find((tool) => tool.tool === "codex")?.state, "connected")
      assert.equal(tools.find((tool) => tool.tool === "claude")?.state, "not connected")

      assert.equal((await connect("codex", "--disconnect")).code, 0)
      assert.equal(readFileSync(file, "utf8"), original)
      const after = await connect("status", "--json", "--url", URL_)
      assert.equal(
        (JSON.parse(after.stdout) as { tools: Array<{ tool: string; state: string }> }).tools.find((tool) =>
          tool.tool === "codex"
        )?.state,
        "not connected"
      )
    })
  })

  it("after later edits, disconnect puts back only the keys it changed and never removes one it did not write", async () => {
    await withUser({}, async (user, connect) => {
      const original = fixture("codex-config.toml")
      const file = placed(join(user.home, ".codex"), "config.toml", original)
      assert.equal((await connect("codex", "--url", URL_)).code, 0)
      const connected = readFileSync(file, "utf8")
      // Edits made since: a value of the user's changes, and they add a key to the provider table isartor created.
      writeFileSync(
        file,
        connected.replace("sandbox_mode = \"workspace-write\"", "sandbox_mode = \"read-only\"")
          .replace(`base_url = "${URL_}/v1"\n`, `base_url = "${URL_}/v1"\nrequest_max_retries = 2\n`)
      )

      const undone = await connect("codex", "--disconnect")
      assert.equal(undone.code, 0, undone.stderr)
      const result = parse(readFileSync(file, "utf8")) as Record<string, any>
      assert.equal(result.model_provider, "openai", "the provider the user had is selected again")
      assert.equal(result.sandbox_mode, "read-only", "their later edit stays")
      assert.deepEqual(
        { ...result.model_providers.isartor },
        { request_max_retries: 2 },
        "their key in the table stays"
      )
      const expected = parse(original) as Record<string, any>
      expected.sandbox_mode = "read-only"
      expected.model_providers.isartor = { request_max_retries: 2 }
      assert.deepEqual(JSON.parse(JSON.stringify(result)), JSON.parse(JSON.stringify(expected)))
      assert.match(readFileSync(file, "utf8"), /^# docs server$/m)
    })
  })

  it("refuses a config.toml it cannot parse: exit 1, the reason, nothing written", async () => {
    await withUser({}, async (user, connect) => {
      const broken = fixture("codex-broken.toml")
      const file = placed(join(user.home, ".codex"), "config.toml", broken)
      const result = await connect("codex", "--url", URL_)
      assert.equal(result.code, 1)
      assert.match(result.stderr, /cannot parse ~\/\.codex\/config\.toml as TOML: /)
      assert.equal(readFileSync(file, "utf8"), broken)
      assert.deepEqual(records(user.home), [])
    })
  })
})

describe("isartor connect env", () => {
  it("prints exports bash can eval, and unsets that leave a key of the user's own alone", async () => {
    await withUser({}, async (user) => {
      const { execFileSync } = await import("node:child_process")
      const bin = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(projectRoot, "bin/isartor"))}`
      const shell = (script: string, env: Record<string, string> = {}) =>
        execFileSync("bash", ["-c", script], { env: { ...user.env, ...env }, encoding: "utf8" })
      const connected = shell(
        `eval "$(${bin} connect env --shell bash --url ${URL_} --key "it's-a-key")" && env`
      )
      assert.match(connected, /^OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:18080\/v1$/m)
      assert.match(connected, /^ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:18080$/m)
      assert.match(connected, /^OPENAI_API_KEY=it's-a-key$/m)
      assert.match(connected, /^ISARTOR_API_KEY=it's-a-key$/m, "the variable Codex's env_key names")

      const disconnected = shell(
        `eval "$(${bin} connect env --url ${URL_} --key "it's-a-key")"; eval "$(${bin} connect env --disconnect --url ${URL_} --key "it's-a-key")"; echo "rc=$?"; env`,
        { ANTHROPIC_API_KEY: "sk-ant-users-own", HTTPS_PROXY: "http://127.0.0.1:8081" }
      )
      assert.match(disconnected, /^rc=0$/m)
      assert.doesNotMatch(disconnected, /^(OPENAI_BASE_URL|ANTHROPIC_BASE_URL|OPENAI_API_KEY|HTTPS_PROXY)=/m)
      // connect env replaced it in that shell; a shell where it still holds the user's own key keeps it.
      const own = shell(`eval "$(${bin} connect env --disconnect --key gateway-key)"; env`, {
        OPENAI_API_KEY: "sk-users-own"
      })
      assert.match(own, /^OPENAI_API_KEY=sk-users-own$/m)
      assert.equal((await run(["connect", "env", "--shell", "tcsh"], user.env)).code, 2)
    })
  })
})

/** The shells `connect env --shell` speaks besides bash: how each runs a script, and where it is when installed. */
const SHELLS = [
  { shell: "zsh", command: "zsh", args: (script: string) => ["-f", "-c", script], install: "apt-get install zsh" },
  {
    shell: "fish",
    command: "fish",
    args: (script: string) => ["--no-config", "-c", script],
    install: "apt-get install fish"
  },
  {
    shell: "powershell",
    command: "pwsh",
    args: (script: string) => ["-NoProfile", "-NonInteractive", "-Command", script],
    install: "https://learn.microsoft.com/powershell/scripting/install/installing-powershell-on-linux"
  }
] as const

describe("isartor connect env in zsh, fish and PowerShell", () => {
  // A key no shell would take unquoted: quotes of both kinds, a dollar, a backslash, spaces.
  const KEY = `it's a "key" $HOME \\ back`
  for (const { shell, command, args, install } of SHELLS) {
    it(`${shell}: the printed lines set the variables, and the disconnect lines unset them (the user's own key stays)`, async (t) => {
      const { execFileSync, spawnSync } = await import("node:child_process")
      if (spawnSync(command, ["-c", "exit 0"], { stdio: "ignore" }).error !== undefined) {
        return t.skip(`${command} is not installed here (${install}); the printed text is checked by the other tests`)
      }
      await withUser({}, async (user) => {
        const bin = join(projectRoot, "bin/isartor")
        const printed = (...extra: Array<string>) =>
          execFileSync(process.execPath, [bin, "connect", "env", "--shell", shell, "--url", URL_, ...extra], {
            env: user.env,
            encoding: "utf8"
          })
        const connectLines = printed("--key", KEY)
        const disconnectLines = printed("--disconnect", "--key", KEY)
        // Each shell runs exactly what was printed (from a file, so nothing is quoted twice), then prints its variables.
        const script = join(user.home, `script.${shell}`)
        const runIn = (lines: string, env: Record<string, string> = {}) => {
          writeFileSync(script, lines)
          const source = shell === "powershell" ? `. '${script}'` : `source '${script}'`
          const show = shell === "powershell"
            ? "Get-ChildItem Env: | ForEach-Object { \"$($_.Name)=$($_.Value)\" }"
            : "env"
          return execFileSync(command, args(`${source}; ${show}`), { env: { ...user.env, ...env }, encoding: "utf8" })
        }
        const connected = runIn(connectLines)
        assert.match(connected, /^OPENAI_BASE_URL=http:\/\/127\.0\.0\.1:18080\/v1$/m)
        assert.match(connected, /^ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:18080$/m)
        assert.ok(connected.split(/\r?\n/).includes(`OPENAI_API_KEY=${KEY}`), connected)
        assert.ok(connected.split(/\r?\n/).includes(`ISARTOR_API_KEY=${KEY}`), connected)

        const disconnected = runIn(connectLines + disconnectLines, { HTTPS_PROXY: "http://127.0.0.1:8081" })
        assert.doesNotMatch(
          disconnected,
          /^(OPENAI_BASE_URL|ANTHROPIC_BASE_URL|OPENAI_API_KEY|ISARTOR_API_KEY|HTTPS_PROXY)=/m
        )
        const own = runIn(disconnectLines, { OPENAI_API_KEY: "sk-users-own" })
        assert.match(own, /^OPENAI_API_KEY=sk-users-own$/m, "a key of the user's own is not connect env's to remove")
      })
    })
  }
})

describe("isartor connect env --shell powershell", () => {
  it("prints $env: assignments with single quotes doubled, and removals that leave the user's own key alone", async () => {
    await withUser({}, async (user) => {
      const key = `it's a "key" $HOME`
      const connected = await run(["connect", "env", "--shell", "powershell", "--url", URL_, "--key", key], user.env)
      assert.deepEqual(connected.stdout.split("\n").slice(0, 6), [
        "# Isartor at http://127.0.0.1:18080: isartor connect env --shell powershell | Out-String | Invoke-Expression",
        "$env:OPENAI_BASE_URL = 'http://127.0.0.1:18080/v1'",
        "$env:ANTHROPIC_BASE_URL = 'http://127.0.0.1:18080'",
        `$env:OPENAI_API_KEY = 'it''s a "key" $HOME'`,
        `$env:ANTHROPIC_API_KEY = 'it''s a "key" $HOME'`,
        `$env:ISARTOR_API_KEY = 'it''s a "key" $HOME'`
      ])
      const undone = await run(["connect", "env", "--shell", "powershell", "--disconnect", "--key", key], user.env)
      const lines = undone.stdout.split("\n")
      assert.ok(lines.includes("Remove-Item Env:OPENAI_BASE_URL -ErrorAction SilentlyContinue"), undone.stdout)
      assert.ok(lines.includes(`if ($env:OPENAI_API_KEY -eq 'it''s a "key" $HOME') { Remove-Item Env:OPENAI_API_KEY }`))
      assert.ok(lines.includes("Remove-Item Env:HTTPS_PROXY -ErrorAction SilentlyContinue"))
    })
  })
})

describe("isartor connect copilot / antigravity", () => {
  it("sets only the editor's http.proxy in its JSONC user settings, prints the proxy exports, and disconnect restores the file", async () => {
    await withUser({}, async (user, connect) => {
      user.env.XDG_CONFIG_HOME = join(user.home, "config")
      const original = fixture("vscode-settings.json")
      const file = placed(join(user.home, "config", "Code", "User"), "settings.json", original, 0o600)

      const connected = await connect("copilot", "--shell", "bash")
      assert.equal(connected.code, 0, connected.stderr)
      const text = readFileSync(file, "utf8")
      assert.equal(
        text,
        original.replace(
          "\"http.proxy\": \"http://proxy.corp.example:3128\"",
          "\"http.proxy\": \"http://127.0.0.1:8081\""
        ),
        "one value changed; comments, tabs and trailing commas stay"
      )
      assert.match(connected.stderr, /replaces the editor's proxy http:\/\/proxy\.corp\.example:3128/)
      const caFile = join(user.home, "state", "proxy", "ca.pem")
      assert.equal(
        connected.stdout,
        [
          "export HTTPS_PROXY='http://127.0.0.1:8081'",
          `export NODE_EXTRA_CA_CERTS='${caFile}'`,
          `export SSL_CERT_FILE='${join(user.home, "state", "proxy", "ca-bundle.pem")}'`,
          `export REQUESTS_CA_BUNDLE='${join(user.home, "state", "proxy", "ca-bundle.pem")}'`,
          "export ISARTOR_COPILOT_ENABLED='1'",
          ""
        ].join("\n"),
        "stdout is only what a shell evals"
      )
      assert.ok(existsSync(caFile), "the CA exists for the exports to point at")
      assert.equal(readFileSync(file, "utf8"), text)
      const listed = await connect("--list", "--json")
      const tools = (JSON.parse(listed.stdout) as { tools: Array<{ tool: string; state: string }> }).tools
      assert.equal(tools.find((tool) => tool.tool === "copilot")?.state, "connected")
      assert.match(
        (await connect("--list")).stdout,
        /copilot +connected \(the proxy is not running: isartor up starts it, or isartor proxy\)/
      )
      assert.equal(tools.find((tool) => tool.tool === "antigravity")?.state, "not connected")

      assert.equal((await connect("copilot")).code, 0)
      assert.equal(readFileSync(file, "utf8"), text, "connecting twice changes nothing")
      const undone = await connect("copilot", "--disconnect", "--shell", "bash")
      assert.equal(undone.code, 0, undone.stderr)
      assert.match(
        undone.stdout,
        /^unset HTTPS_PROXY HTTP_PROXY ALL_PROXY .*NODE_EXTRA_CA_CERTS SSL_CERT_FILE REQUESTS_CA_BUNDLE/
      )
      assert.equal(readFileSync(file, "utf8"), original)
      assert.equal(statSync(file).mode & 0o777, 0o600)

      // Antigravity's settings do not exist: created with the one key, and removed again.
      assert.equal((await connect("antigravity")).code, 0)
      const antigravity = join(user.home, "config", "Antigravity", "User", "settings.json")
      assert.deepEqual(JSON.parse(readFileSync(antigravity, "utf8")), { "http.proxy": "http://127.0.0.1:8081" })
      assert.equal((await connect("antigravity", "--disconnect")).code, 0)
      assert.equal(existsSync(join(user.home, "config", "Antigravity")), false)
    })
  })
})

describe("a symlinked settings file", () => {
  it("is edited at its target, and stays a symlink", async () => {
    const { lstatSync, symlinkSync } = await import("node:fs")
    await withUser({}, async (user, connect) => {
      const original = fixture("claude-settings.json")
      const target = placed(join(user.home, "dotfiles"), "claude.json", original)
      mkdirSync(join(user.home, ".claude"))
      const link = join(user.home, ".claude", "settings.json")
      symlinkSync(target, link)
      assert.equal((await connect("claude", "--url", URL_)).code, 0)
      assert.ok(lstatSync(link).isSymbolicLink(), "the link is not replaced by a file")
      assert.equal(JSON.parse(readFileSync(target, "utf8")).env.ANTHROPIC_BASE_URL, URL_)
      assert.equal((await connect("claude", "--disconnect")).code, 0)
      assert.ok(lstatSync(link).isSymbolicLink())
      assert.equal(readFileSync(target, "utf8"), original)
    })
  })
})
