import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { describe, it } from "node:test"
import { installed } from "../support/installed.ts"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

// The real Claude Code, Codex and Gemini CLI (pinned in .ci/clis by .ci/run; skipped where absent), started with
// nothing but the HOME `isartor connect` edited: no base URL or key in their environment, so a request reaching the
// loopback server with the gateway key can only come from the settings the command wrote.

const cli = (name: string) => join(projectRoot, ".ci/clis/node_modules/.bin", name)
const KEY = "gateway-key-from-connect"

interface Seen {
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  readonly apiKey: string | undefined
}

/** Refuses every request with a 400 its SDK does not retry, and remembers what came. */
const refusingServer = async () => {
  const seen: Array<Seen> = []
  const server = createServer((request: IncomingMessage, response) => {
    request.resume()
    request.on("end", () => {
      seen.push({
        method: request.method!,
        path: request.url!,
        authorization: request.headers.authorization,
        apiKey: request.headers["x-goog-api-key"] as string | undefined
      })
      response.writeHead(400, { "content-type": "application/json", "x-should-retry": "false" })
      response.end(JSON.stringify({ type: "error", error: { type: "invalid_request_error", message: "refused" } }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    seen,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const runTool = (command: string, args: Array<string>, home: string, extra: Record<string, string> = {}) => {
  const cwd = join(home, "project")
  mkdirSync(cwd, { recursive: true })
  return new Promise<void>((resolve) => {
    execFile(
      command,
      args,
      {
        cwd,
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: home,
          LANG: "C.UTF-8",
          // Anything not aimed at the loopback server goes nowhere.
          HTTPS_PROXY: "http://127.0.0.1:9",
          HTTP_PROXY: "http://127.0.0.1:9",
          NO_PROXY: "127.0.0.1,localhost",
          DISABLE_AUTOUPDATER: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_ERROR_REPORTING: "1",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          ...extra
        }
      },
      () => resolve()
    ).stdin?.end() // Codex waits for more of the prompt on an open stdin
  })
}

describe("the tools follow what isartor connect wrote", () => {
  it("Claude Code sends its requests to ANTHROPIC_BASE_URL with the gateway key as its bearer token", async (t) => {
    if (!installed(t, existsSync(cli("claude")), "Claude Code", ".ci/run installs it into .ci/clis")) return
    const server = await refusingServer()
    const user = userEnv()
    try {
      const connected = await run(["connect", "claude", "--url", server.url, "--key", KEY], user.env)
      assert.equal(connected.code, 0, connected.stderr)
      await runTool(cli("claude"), ["-p", "hello"], user.home)
      assert.ok(server.seen.length > 0, "Claude Code reached the URL from its settings")
      for (const request of server.seen) {
        assert.equal(request.method, "POST")
        assert.match(request.path, /^\/v1\/messages/)
        assert.equal(request.authorization, `Bearer ${KEY}`)
      }
    } finally {
      user.cleanup()
      await server.close()
    }
  })

  it("Codex sends its Responses requests to the isartor provider's base_url with the key from ISARTOR_API_KEY", async (t) => {
    if (!installed(t, existsSync(cli("codex")), "Codex", ".ci/run installs it into .ci/clis")) return
    const server = await refusingServer()
    const user = userEnv()
    try {
      const connected = await run(["connect", "codex", "--url", server.url, "--key", KEY], user.env)
      assert.equal(connected.code, 0, connected.stderr)
      await runTool(cli("codex"), ["exec", "--skip-git-repo-check", "hello"], user.home, { ISARTOR_API_KEY: KEY })
      assert.ok(server.seen.length > 0, "Codex reached the URL from its config.toml")
      assert.deepEqual(server.seen[0], {
        method: "POST",
        path: "/v1/responses",
        authorization: `Bearer ${KEY}`,
        apiKey: undefined
      })
    } finally {
      user.cleanup()
      await server.close()
    }
  })
  it("Gemini CLI sends its requests to GOOGLE_GEMINI_BASE_URL from ~/.gemini/.env, with the gateway key", async (t) => {
    if (!installed(t, existsSync(cli("gemini")), "Gemini CLI", ".ci/run installs it into .ci/clis")) return
    const server = await refusingServer()
    const user = userEnv()
    try {
      const connected = await run(["connect", "gemini", "--url", server.url, "--key", KEY], user.env)
      assert.equal(connected.code, 0, connected.stderr)
      // The user has trusted the folder (Gemini CLI reads ~/.gemini/.env in trusted folders only).
      await runTool(cli("gemini"), ["-p", "hello"], user.home, { GEMINI_CLI_TRUST_WORKSPACE: "true" })
      assert.ok(server.seen.length > 0, "Gemini CLI reached the URL from its .env file")
      for (const request of server.seen) {
        assert.equal(request.method, "POST")
        assert.match(request.path, /^\/v1beta\/models\/[^/]+:(stream)?[gG]enerateContent/)
        assert.equal(request.apiKey, KEY)
      }
    } finally {
      user.cleanup()
      await server.close()
    }
  })
})
