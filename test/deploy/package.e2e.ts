// The npm package as a user gets it: `npm pack`, installed from the tarball into an empty project (its dependencies
// from npm's cache, else the registry), then `npx isartor up --detach` answers /healthz and `isartor stop` stops it.
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { promisify } from "node:util"
import { projectRoot } from "../support/processes.ts"
import { freePort } from "../support/redis.ts"

const exec = promisify(execFile)
const dir = realpathSync(mkdtempSync(join(tmpdir(), "isartor-package-")))
const project = join(dir, "project")
const home = join(dir, "home")
let tarball = ""
let files: Array<string> = []

/** npm with the user's cache (so that installing works offline when it holds the dependencies), nothing else. */
const npmCache = (await exec("npm", ["config", "get", "cache"], { cwd: projectRoot })).stdout.trim()
const userEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? "",
  HOME: home,
  ISARTOR_HOME: join(home, "state"),
  npm_config_cache: npmCache,
  npm_config_update_notifier: "false",
  // onnxruntime-node (a dependency of transformers.js, which the gateway runs on WASM) would otherwise download
  // its CUDA libraries from nuget.org at install.
  ONNXRUNTIME_NODE_INSTALL: "skip",
  ...extra
})
const npx = (args: Array<string>, extra: Record<string, string> = {}) =>
  exec("npx", ["--no-install", "isartor", ...args], { cwd: project, env: userEnv(extra), timeout: 240_000 })

before(async () => {
  mkdirSync(project, { recursive: true })
  mkdirSync(home, { recursive: true })
  const packed = await exec("npm", ["pack", "--json", "--pack-destination", dir], { cwd: projectRoot })
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(dir, info!.filename)
  files = info!.files.map((file) => file.path)
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe("the npm package", () => {
  it("holds what runs and nothing else: the command, its sources and the demo's workloads", () => {
    const tops = new Set(files.map((path) => path.split("/")[0]))
    assert.deepEqual([...tops].sort(), ["README.md", "bin", "cli", "core", "data", "package.json", "runtimes"])
    assert.ok(files.includes("bin/isartor"))
    assert.ok(files.includes("runtimes/node.ts"))
    assert.ok(files.includes("data/isartor-faq_loop.jsonl"))
    assert.deepEqual(
      files.filter((path) => /(^|\/)(test|bench|dist|docs)\/|\.test\.ts$|^cli\/build\.ts$/.test(path)),
      []
    )
  })

  it("installs from its tarball into an empty project; npx isartor up --detach serves, isartor stop stops", {
    timeout: 600_000
  }, async () => {
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-isartor", private: true }))
    // No dependency's install script runs here: onnxruntime-node's would reach past the registry (nuget.org).
    await exec("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", tarball], {
      cwd: project,
      env: userEnv(),
      timeout: 540_000
    })
    const port = await freePort()
    // No drain on `stop` (5 s by default, tested in test/cli/command.e2e.ts): this is about the installed command.
    const up = await npx(["up", "--detach", "--port", String(port)], {
      ISARTOR__HOST_PORT: `127.0.0.1:${port}`,
      ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
    })
    try {
      assert.match(up.stdout, new RegExp(`http://127\\.0\\.0\\.1:${port}`))
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      assert.equal(health.status, 200)
      assert.deepEqual(await health.json(), { status: "ok" })
    } finally {
      const stopped = await npx(["stop"])
      assert.match(stopped.stdout, /isartor stopped/)
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`))
  })

  it("isartor update, installed in a project, gives the project's npm command", async () => {
    const registry = createServer((request, response) => {
      if (request.url !== "/isartor/latest") return void response.writeHead(404).end()
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ name: "isartor", version: "99.0.0" }))
    })
    await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve))
    try {
      const url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`
      const result = await npx(["update"], { ISARTOR_UPDATE_REGISTRY: url })
      assert.ok(result.stdout.includes(`npm i isartor@99.0.0 (in ${project})`), result.stdout)
    } finally {
      registry.close()
    }
  })
})
