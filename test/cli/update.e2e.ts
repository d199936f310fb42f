import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { arch, platform } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { VERSION } from "../../core/version.ts"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

const asset = `isartor-${platform() === "win32" ? "windows" : platform()}-${arch()}${
  platform() === "win32" ? ".exe" : ""
}`
const NEW_BINARY = "#!/bin/sh\necho isartor 99.0.0\n"
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** A loopback npm registry and release server: what the latest version is, its asset, its SHA256SUMS. */
interface Release {
  latest: string
  body: string
  sums: string
}
let release: Release
let server: Server
let base: string
const requests: Array<string> = []
before(async () => {
  server = createServer((request, response) => {
    requests.push(request.url ?? "")
    if (request.url === "/registry/isartor/latest") {
      response.writeHead(200, { "content-type": "application/json" })
      return response.end(JSON.stringify({ name: "isartor", version: release.latest }))
    }
    if (request.url === `/releases/v${release.latest}/SHA256SUMS`) return response.end(release.sums)
    if (request.url === `/releases/v${release.latest}/${asset}`) return response.end(release.body)
    response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(() => server.close())

const updateEnv = (extra: Record<string, string> = {}) =>
  userEnv({ ISARTOR_UPDATE_REGISTRY: `${base}/registry`, ISARTOR_UPDATE_RELEASES: `${base}/releases`, ...extra })

/** An installed "binary" to replace: a script standing in for the old version. */
const installOld = (dir: string) => {
  const path = join(dir, "isartor")
  writeFileSync(path, "#!/bin/sh\necho isartor 0.1.0\n")
  chmodSync(path, 0o755)
  return path
}

describe("isartor update", () => {
  it("replaces the binary with the newer release after checking its SHA-256, keeping the old one as .bak", async () => {
    release = {
      latest: "99.0.0",
      body: NEW_BINARY,
      sums: `${sha256("other")}  isartor-other\n${sha256(NEW_BINARY)}  ${asset}\n`
    }
    const user = updateEnv()
    try {
      const binary = installOld(user.home)
      const result = await run(["update", "--binary", binary], user.env)
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /updated .* to isartor 99\.0\.0/)
      assert.equal(readFileSync(binary, "utf8"), NEW_BINARY)
      assert.equal(statSync(binary).mode & 0o111, 0o111, "still executable")
      assert.equal(readFileSync(`${binary}.bak`, "utf8"), "#!/bin/sh\necho isartor 0.1.0\n")
      assert.deepEqual(readdirSync(user.home).filter((name) => name.includes("download")), [])
    } finally {
      user.cleanup()
    }
  })

  it("refuses a download whose checksum does not match: nothing replaced, no .bak, no leftovers (exit 1)", async () => {
    release = { latest: "99.0.0", body: NEW_BINARY, sums: `${sha256("tampered")}  ${asset}\n` }
    const user = updateEnv()
    try {
      const binary = installOld(user.home)
      const result = await run(["update", "--binary", binary], user.env)
      assert.equal(result.code, 1)
      assert.match(result.stderr, /does not match its published SHA-256.*refused, nothing replaced/)
      assert.equal(readFileSync(binary, "utf8"), "#!/bin/sh\necho isartor 0.1.0\n")
      assert.equal(existsSync(`${binary}.bak`), false)
      assert.deepEqual(readdirSync(user.home).filter((name) => name.includes("download")), [])
    } finally {
      user.cleanup()
    }
  })

  it("says it is up to date, and downloads nothing, when the registry has no newer version", async () => {
    release = { latest: "0.0.9", body: NEW_BINARY, sums: "" }
    const user = updateEnv()
    try {
      const binary = installOld(user.home)
      const before = requests.length
      const result = await run(["update", "--binary", binary, "--json"], user.env)
      assert.equal(result.code, 0, result.stderr)
      assert.deepEqual(JSON.parse(result.stdout), { current: VERSION, latest: "0.0.9", updated: false, upToDate: true })
      assert.deepEqual(requests.slice(before), ["/registry/isartor/latest"])
    } finally {
      user.cleanup()
    }
  })

  // An npm install (global or a project's) is told its npm command: test/deploy/package.e2e.ts installs the packed
  // package and runs it from there.
  it("from a source checkout, prints git pull and npm ci instead of replacing anything, even with --yes", async () => {
    release = { latest: "99.0.0", body: NEW_BINARY, sums: "" }
    const user = updateEnv()
    try {
      const result = await run(["update", "--yes"], user.env)
      assert.equal(result.code, 0, result.stderr)
      const root = projectRoot.replace(/\/$/, "")
      assert.ok(result.stdout.includes(`git -C ${root} pull && npm ci --prefix ${root}`), result.stdout)
      assert.doesNotMatch(result.stdout, /updated to/)
    } finally {
      user.cleanup()
    }
  })

  it("offline: says so and exits 1; with a proxy variable left in the shell, gives the FAQ's unset line", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise((resolve) => closed.close(resolve))
    const offline = userEnv({ ISARTOR_UPDATE_REGISTRY: deadUrl })
    const proxied = userEnv({ ISARTOR_UPDATE_REGISTRY: deadUrl, HTTPS_PROXY: "http://localhost:8081" })
    try {
      const plain = await run(["update"], offline.env)
      assert.equal(plain.code, 1)
      assert.match(plain.stderr, /cannot reach the npm registry .*ECONNREFUSED.*\n?Offline\?/s)
      const stale = await run(["update"], proxied.env)
      assert.equal(stale.code, 1)
      assert.match(stale.stderr, /HTTPS_PROXY=http:\/\/localhost:8081/)
      // The FAQ's three lines, the proxy tools' switches included.
      assert.match(
        stale.stderr,
        /\n {2}unset HTTPS_PROXY HTTP_PROXY ALL_PROXY https_proxy http_proxy all_proxy\n {2}unset NODE_EXTRA_CA_CERTS SSL_CERT_FILE REQUESTS_CA_BUNDLE\n {2}unset ISARTOR_COPILOT_ENABLED ISARTOR_ANTIGRAVITY_ENABLED/
      )
    } finally {
      offline.cleanup()
      proxied.cleanup()
    }
  })

  it("in a directory it may not write, answers with the ~/.local/bin recipe and replaces nothing", async () => {
    release = { latest: "99.0.0", body: NEW_BINARY, sums: `${sha256(NEW_BINARY)}  ${asset}\n` }
    const user = updateEnv()
    try {
      const binary = installOld(user.home)
      // Root may write anywhere: as root (CI), the command runs without the capabilities that let it (it stays the
      // owner of the checkout, which need not be readable by anyone else).
      const asRoot = process.getuid?.() === 0
      chmodSync(user.home, 0o555)
      const result = await run(["update", "--binary", binary], user.env, {
        command: [
          ...(asRoot ? ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] : []),
          process.execPath,
          join(projectRoot, "bin/isartor")
        ]
      })
      chmodSync(user.home, 0o755)
      assert.equal(result.code, 1)
      assert.match(result.stderr, /permission denied/)
      assert.match(result.stderr, /mkdir -p ~\/\.local\/bin/)
      assert.equal(readFileSync(binary, "utf8"), "#!/bin/sh\necho isartor 0.1.0\n")
    } finally {
      user.cleanup()
    }
  })
})
