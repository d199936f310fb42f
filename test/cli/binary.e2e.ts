import assert from "node:assert/strict"
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { arch, platform, tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it, type TestContext } from "node:test"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { projectRoot } from "../support/processes.ts"
import { alive, chat, run } from "./run.ts"

const target = `${platform()}-${arch()}`
const binary = join(projectRoot, "dist", `isartor-${target}`)
/** Whether the binary is built: a skip off CI, a failure on CI (.ci/run builds it). */
const built = (t: TestContext) =>
  installed(
    t,
    existsSync(binary),
    `the single binary ${binary}`,
    `build it with npm run build:binary -- --target ${target}; .ci/run does`
  )

interface Health {
  readonly layers: Record<string, { readonly status: string; readonly entries?: number; readonly fast_stage?: string }>
}

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream?.close())

describe("the single binary", () => {
  it("runs from a bare directory (no node_modules, empty HOME): up --detach, L3, L1a, L1b, status, stop", async (t) => {
    if (!built(t)) return
    // A directory with the binary alone, and a HOME with no caches: everything it needs must be inside it.
    const dir = mkdtempSync(join(tmpdir(), "isartor-binary-"))
    const exe = join(dir, "isartor")
    copyFileSync(binary, exe)
    const env = {
      PATH: "/usr/bin:/bin",
      HOME: join(dir, "home"),
      ISARTOR_HOME: join(dir, "state"),
      // One stored answer is not a stream of checked ones: the false-hit budget is off, the decision alone serves.
      // No drain on `stop` (5 s by default; command.e2e.ts and runtimes.e2e.ts check it).
      ...upstreamEnv(upstream.url, {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__L1B_ERROR_BUDGET: "1",
        ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
      })
    }
    const command = [exe]
    let pid: number | undefined
    try {
      const launched = performance.now()
      const started = await run(["up", "--detach"], env, { command, cwd: dir })
      const readyMs = performance.now() - launched
      assert.equal(started.code, 0, started.stderr + started.stdout)
      const match = /running at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stdout)
      assert.ok(match, started.stdout)
      const url = match[1]!
      pid = Number(match[2])
      t.diagnostic(
        `binary ${(statSync(binary).size / 1024 / 1024).toFixed(1)} MB; launch to ready ${readyMs.toFixed(0)} ms`
      )

      // With an empty HOME the worker first builds the fast stage's table (issue 16: seconds, more on a loaded
      // machine), and embeddings wait behind it: the questions come once it is ready, as a user's would after
      // the first seconds, so a slow machine does not turn the check into a timeout.
      const health = async () => ((await (await fetch(`${url}/health`)).json()) as Health).layers.l1b
      await eventually(async () => (await health())?.fast_stage !== "warming up", {
        what: "the fast stage's table to be built",
        timeoutMs: 120_000,
        intervalMs: 100
      })
      const miss = await chat(url, "How do I reset my password?")
      assert.equal(miss.status, 200)
      assert.equal(miss.headers.get("x-isartor-layer"), "l3")
      const exact = await chat(url, "How do I reset my password?")
      assert.equal(exact.headers.get("x-isartor-layer"), "l1a")
      // The semantic cache is written after the answer is sent: wait until it holds the entry (the model inside
      // the binary embedded it), then a paraphrase is answered from it.
      const l1bEntries = async () => (await health())?.entries
      await eventually(async () => ((await l1bEntries()) ?? 0) >= 1, {
        what: "the semantic cache to hold the first answer",
        timeoutMs: 30_000,
        intervalMs: 50
      })
      assert.equal(await l1bEntries(), 1, "the semantic cache holds the first answer, and only it")
      const paraphrase = await chat(url, "How can I reset my password?")
      assert.equal(paraphrase.headers.get("x-isartor-layer"), "l1b")
      assert.equal(
        ((await paraphrase.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content,
        "Answer #1 to: How do I reset my password?"
      )

      const status = await run(["status", "--json"], env, { command, cwd: dir })
      assert.equal(status.code, 0, status.stderr)
      const parsed = JSON.parse(status.stdout) as { running: boolean; layers: Record<string, { status: string }> }
      assert.equal(parsed.running, true)
      assert.equal(parsed.layers.l1b?.status, "ok")

      const stopped = await run(["stop"], env, { command, cwd: dir })
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.equal(alive(pid), false)
      assert.equal(existsSync(join(dir, "node_modules")), false)
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("runs a transformers.js model from a directory (the project's tiny BERT) on the WASM runtime inside it", async (t) => {
    if (!built(t)) return
    const dir = mkdtempSync(join(tmpdir(), "isartor-binary-"))
    const exe = join(dir, "isartor")
    copyFileSync(binary, exe)
    cpSync(join(projectRoot, "test", "fixtures", "tiny-bert"), join(dir, "tiny-bert"), { recursive: true })
    const env = {
      PATH: "/usr/bin:/bin",
      HOME: join(dir, "home"),
      ISARTOR_HOME: join(dir, "state"),
      ...upstreamEnv(upstream.url, {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__EMBEDDING_MODEL_PATH: join(dir, "tiny-bert"),
        ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
      })
    }
    let pid: number | undefined
    try {
      const started = await run(["up", "--detach"], env, { command: [exe], cwd: dir })
      assert.equal(started.code, 0, started.stderr + started.stdout)
      const match = /running at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stdout)
      assert.ok(match, started.stdout)
      const url = match[1]!
      pid = Number(match[2])
      const l1b = async () =>
        ((await (await fetch(`${url}/health`)).json()) as {
          layers: { l1b: { status: string; model?: string; entries?: number } }
        }).layers.l1b
      assert.deepEqual([(await l1b()).status, (await l1b()).model], ["ok", "transformers:tiny-bert"])
      assert.equal((await chat(url, "Does the tiny model embed this?")).status, 200)
      // The answer is stored in L1b once the model inside the binary has embedded the question.
      await eventually(async () => ((await l1b()).entries ?? 0) >= 1, {
        what: "L1b to hold the answer the tiny model embedded",
        timeoutMs: 30_000,
        intervalMs: 50
      })
      assert.equal((await l1b()).entries, 1)
      assert.equal((await run(["stop"], env, { command: [exe], cwd: dir })).code, 0)
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
