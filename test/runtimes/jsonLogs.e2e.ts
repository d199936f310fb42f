import assert from "node:assert/strict"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { run } from "../cli/run.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { projectRoot, runtimeCommand, startProcess } from "../support/processes.ts"

let upstream: FakeOpenAI
let directory: string
before(async () => {
  upstream = await startFakeOpenAI()
  directory = mkdtempSync(join(tmpdir(), "isartor-json-logs-"))
})
after(async () => {
  await upstream.close()
  rmSync(directory, { recursive: true, force: true })
})

interface JsonLine {
  readonly time: string
  readonly level: string
  readonly msg: string
}

/** Every line printed, each of which must be one JSON object with `time`, `level` and `msg`. */
const jsonLines = (output: string): Array<JsonLine> =>
  output.split("\n").filter((line) => line.trim() !== "").map((line) => {
    let parsed: JsonLine
    try {
      parsed = JSON.parse(line) as JsonLine
    } catch {
      assert.fail(`not a JSON line: ${line}\n--- all output:\n${output}`)
    }
    assert.ok(typeof parsed.time === "string" && !Number.isNaN(Date.parse(parsed.time)), line)
    assert.ok(typeof parsed.level === "string" && typeof parsed.msg === "string", line)
    return parsed
  })

describe("log_format = json: every line the gateway prints is JSON, the listening line and start-up errors included", () => {
  for (const runtime of ["node", "bun", "deno"] as const) {
    const command = runtimeCommand(runtime, `runtimes/${runtime}.ts`)

    it(`${runtime}: ISARTOR__LOG_FORMAT=json, from start to a served request`, async () => {
      const gateway = await startProcess(
        command,
        upstreamEnv(upstream.url, {
          ISARTOR__LOG_FORMAT: "json",
          ISARTOR__CACHE_MODE: "exact",
          ISARTOR__HOST_PORT: "127.0.0.1:0"
        })
      )
      try {
        const response = await fetch(`${gateway.url}/api/chat`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ prompt: "Logged as JSON?" })
        })
        assert.equal(response.status, 200)
        // The request's line is written as the response ends: wait for it.
        await eventually(() => gateway.output().includes("\"msg\":\"request\""), {
          what: "the request's JSON log line",
          failFast: () => (gateway.child.exitCode === null ? undefined : `it exited:\n${gateway.output()}`)
        })
        const lines = jsonLines(gateway.output())
        const listening = lines.find((line) => line.msg.startsWith("isartor listening on "))
        assert.equal(listening?.level, "info")
        assert.match(listening!.msg, new RegExp(`^isartor listening on ${gateway.url} \\(${runtime} `))
        assert.ok(lines.some((line) => line.msg === "request"), gateway.output())
      } finally {
        gateway.stop()
      }
    })

    it(`${runtime}: log_format = "json" in the config file: a taken port's error line is JSON`, async () => {
      const blocker: Server = createServer()
      await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
      const port = (blocker.address() as { port: number }).port
      const file = join(directory, `${runtime}.toml`)
      writeFileSync(file, `log_format = "json"\ncache_mode = "exact"\nhost_port = "127.0.0.1:${port}"\n`)
      try {
        const result = await run([], {
          PATH: process.env.PATH ?? "",
          HOME: directory,
          ...upstreamEnv(upstream.url, { ISARTOR__CONFIG_FILE: file })
        }, { command, cwd: projectRoot })
        assert.equal(result.code, 1, result.stderr)
        // Every line is JSON (jsonLines throws on one that is not); a warning may come first (Deno run without
        // --allow-write keeps the usage ledger in memory and says so), then the one error.
        const errors = jsonLines(result.stderr).filter((line) => line.level === "error")
        assert.equal(errors.length, 1, result.stderr)
        assert.equal(errors[0]!.level, "error")
        assert.match(errors[0]!.msg, new RegExp(`^port ${port} is already in use \\(127\\.0\\.0\\.1:${port}\\)`))
        jsonLines(result.stdout)
      } finally {
        blocker.close()
      }
    })

    it(`${runtime}: ISARTOR__LOG_FORMAT=json: a configuration that cannot start is one JSON error line`, async () => {
      const result = await run([], {
        PATH: process.env.PATH ?? "",
        HOME: directory,
        ...upstreamEnv(upstream.url, { ISARTOR__LOG_FORMAT: "json", ISARTOR__CACHE_MODE: "sometimes" })
      }, { command, cwd: projectRoot })
      assert.equal(result.code, 1, result.stderr)
      const errors = jsonLines(result.stderr)
      assert.equal(errors.length, 1, result.stderr)
      assert.equal(errors[0]!.level, "error")
      assert.match(errors[0]!.msg, /ISARTOR__CACHE_MODE/)
      jsonLines(result.stdout)
    })
  }
})
