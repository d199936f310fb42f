// install.sh against a loopback release server: the asset for the platform `uname` names, checked against
// SHA256SUMS, installed under --prefix; a bad checksum or a missing asset installs nothing and leaves nothing behind.
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { projectRoot } from "../support/processes.ts"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")
/** A stand-in for each release asset: a script that says which one it is. */
const binaryFor = (asset: string) => `#!/bin/sh\necho "isartor 9.9.9 (${asset})"\n`
const ASSETS = ["isartor-linux-x64", "isartor-linux-arm64", "isartor-darwin-arm64", "isartor-windows-x64.exe"]

let sums = ""
let server: Server
let releases = ""
const requests: Array<string> = []
before(async () => {
  server = createServer((request, response) => {
    const url = request.url ?? ""
    requests.push(url)
    const match = /^\/(?:latest\/download|download\/v[\d.]+)\/(.+)$/.exec(url)
    if (match?.[1] === "SHA256SUMS") return void response.end(sums)
    if (match && ASSETS.includes(match[1]!)) return void response.end(binaryFor(match[1]!))
    response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  releases = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
after(() => server.close())

const goodSums = () => ASSETS.map((asset) => `${sha256(binaryFor(asset))}  ${asset}`).join("\n") + "\n"

/** Runs install.sh with /bin/sh on a machine whose `uname` says `system` and `machine`, in a fresh HOME. */
const install = async (system: string, machine: string, args: Array<string> = []) => {
  const dir = mkdtempSync(join(tmpdir(), "isartor-install-"))
  const fakeBin = join(dir, "fake-bin")
  const temp = join(dir, "tmp")
  mkdirSync(fakeBin)
  mkdirSync(temp)
  writeFileSync(
    join(fakeBin, "uname"),
    `#!/bin/sh\ncase $1 in -s) echo ${system} ;; -m) echo ${machine} ;; *) echo ${system} ;; esac\n`
  )
  chmodSync(join(fakeBin, "uname"), 0o755)
  const env = {
    PATH: `${fakeBin}:${process.env.PATH ?? ""}`,
    HOME: join(dir, "home"),
    TMPDIR: temp,
    ISARTOR_INSTALL_RELEASES: releases
  }
  const before = requests.length
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn("/bin/sh", [join(projectRoot, "install.sh"), ...args], { env, cwd: dir })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })
  return {
    ...result,
    dir,
    home: env.HOME,
    leftovers: () => readdirSync(temp),
    requested: requests.slice(before),
    cleanup: () => rmSync(dir, { recursive: true, force: true })
  }
}

describe("install.sh", () => {
  for (
    const [system, machine, asset] of [
      ["Linux", "x86_64", "isartor-linux-x64"],
      ["Linux", "aarch64", "isartor-linux-arm64"],
      ["Darwin", "arm64", "isartor-darwin-arm64"]
    ] as const
  ) {
    it(`on ${system} ${machine}: installs ${asset}, checked, to ~/.local/bin, and says how to start`, async () => {
      sums = goodSums()
      const run = await install(system, machine)
      try {
        assert.equal(run.code, 0, run.stderr)
        const installed = join(run.home, ".local/bin/isartor")
        assert.equal(readFileSync(installed, "utf8"), binaryFor(asset))
        assert.match(run.stdout, new RegExp(`installed isartor 9\\.9\\.9 \\(${asset}\\) to ${installed}`))
        assert.match(run.stdout, /isartor up --detach/)
        assert.match(run.stdout, /is not on your PATH; add it: {2}export PATH=/)
        assert.deepEqual(run.requested, ["/latest/download/SHA256SUMS", `/latest/download/${asset}`])
        assert.deepEqual(run.leftovers(), [])
      } finally {
        run.cleanup()
      }
    })
  }

  it("with --prefix and --version: that release, into <prefix>/bin", async () => {
    sums = goodSums()
    const prefixRun = await install("Linux", "x86_64", ["--version", "v1.2.3", "--prefix", "opt"])
    try {
      assert.equal(prefixRun.code, 0, prefixRun.stderr)
      assert.ok(existsSync(join(prefixRun.dir, "opt/bin/isartor")))
      assert.equal(existsSync(join(prefixRun.home, ".local")), false)
      assert.deepEqual(prefixRun.requested, ["/download/v1.2.3/SHA256SUMS", "/download/v1.2.3/isartor-linux-x64"])
    } finally {
      prefixRun.cleanup()
    }
  })

  it("refuses an asset whose checksum does not match: exit 1, nothing installed, nothing left behind", async () => {
    sums = goodSums().replace(sha256(binaryFor("isartor-linux-x64")), sha256("tampered"))
    const run = await install("Linux", "x86_64")
    try {
      assert.equal(run.code, 1)
      assert.match(run.stderr, /isartor-linux-x64 does not match its published SHA-256.*refused, nothing installed/)
      assert.equal(existsSync(join(run.home, ".local")), false)
      assert.deepEqual(run.leftovers(), [])
    } finally {
      run.cleanup()
    }
  })

  it("refuses a release whose SHA256SUMS does not list the asset, and a platform with no release", async () => {
    sums = `${sha256("x")}  isartor-other\n`
    const unlisted = await install("Linux", "x86_64")
    const intel = await install("Darwin", "x86_64")
    try {
      assert.equal(unlisted.code, 1)
      assert.match(unlisted.stderr, /SHA256SUMS lists no isartor-linux-x64; nothing installed/)
      assert.equal(existsSync(join(unlisted.home, ".local")), false)
      assert.deepEqual(unlisted.leftovers(), [])
      assert.equal(intel.code, 1)
      assert.match(intel.stderr, /no release for darwin-x64; install with npm instead: npm i -g isartor/)
      assert.deepEqual(intel.requested, [])
    } finally {
      unlisted.cleanup()
      intel.cleanup()
    }
  })
})
