import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { portIsFree } from "../../runtimes/ports.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { makeGate } from "../support/fakeProviders.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { projectRoot, runtimeCommand } from "../support/processes.ts"
import { alive, chat, run, userEnv } from "./run.ts"

const packageVersion = (JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string })
  .version

/** Two neighbouring loopback ports held by this process: a port taken, and the one after it taken too. */
const takeTwoPorts = async (): Promise<{ port: number; blockers: Array<Server> }> => {
  const listen = (port: number) =>
    new Promise<Server | undefined>((resolve) => {
      const server = createServer()
      server.once("error", () => resolve(undefined))
      server.listen(port, "127.0.0.1", () => resolve(server))
    })
  // A neighbour is taken now and then (another test's server); a machine where it always is fails here, not hangs.
  for (let attempt = 1; attempt <= 100; attempt++) {
    const first = (await listen(0))!
    const port = (first.address() as { port: number }).port
    const second = port < 65535 ? await listen(port + 1) : undefined
    if (second) return { port, blockers: [first, second] }
    first.close()
  }
  assert.fail("100 free loopback ports each had their next port taken")
}

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

describe("isartor: arguments, help and exit codes", () => {
  it("--version prints the package's version; --help lists every command; both exit 0", async () => {
    const user = userEnv()
    try {
      const version = await run(["--version"], user.env)
      assert.equal(version.code, 0)
      assert.equal(version.stdout.trim(), packageVersion)
      const help = await run(["--help"], user.env)
      assert.equal(help.code, 0)
      for (const command of ["up", "stop", "status", "init", "doctor", "demo", "update"]) {
        assert.match(help.stdout, new RegExp(`\\n  ${command} `), command)
      }
      const upHelp = await run(["up", "--help"], user.env)
      assert.equal(upHelp.code, 0)
      assert.match(upHelp.stdout, /--detach/)
      const connectHelp = await run(["connect", "--help"], user.env)
      assert.equal(connectHelp.code, 0)
      for (const tool of ["claude", "codex", "env", "copilot", "antigravity"]) {
        assert.match(connectHelp.stdout, new RegExp(`\\n  ${tool} +\\S`), tool)
      }
    } finally {
      user.cleanup()
    }
  })

  it("a usage error exits 2 with a message (unknown command, bad option value, no command)", async () => {
    const user = userEnv()
    try {
      const unknown = await run(["upp"], user.env)
      assert.equal(unknown.code, 2)
      assert.match(unknown.stderr, /unknown command 'upp'.*\n?.*up/s)
      const badPort = await run(["up", "--port", "eighty"], user.env)
      assert.equal(badPort.code, 2)
      assert.match(badPort.stderr, /--port must be a whole number/)
      const bare = await run([], user.env)
      assert.equal(bare.code, 2)
      assert.match(bare.stderr, /Usage: isartor/)
    } finally {
      user.cleanup()
    }
  })
})

describe("isartor up --detach / status / stop", () => {
  it("starts in the background, answers, refuses a second start, reports status, and stops gracefully", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact" }))
    let pid: number | undefined
    try {
      // A log past 10 MB from earlier runs is rotated when the gateway starts.
      mkdirSync(user.env.ISARTOR_HOME!, { recursive: true })
      writeFileSync(join(user.env.ISARTOR_HOME!, "isartor.log"), "x".repeat(10 * 1024 * 1024 + 1))
      const started = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(started.code, 0, started.stderr + started.stdout)
      const url = /running at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stdout)
      assert.ok(url, started.stdout)
      pid = Number(url[2])
      assert.match(started.stdout, /Log: .*isartor\.log/)
      assert.match(started.stdout, /Stop later with: isartor stop/)
      assert.equal(statSync(join(user.env.ISARTOR_HOME!, "isartor.log.1")).size, 10 * 1024 * 1024 + 1)
      assert.match(readFileSync(join(user.env.ISARTOR_HOME!, "isartor.log"), "utf8"), /listening on http:/)
      // The command has exited; the gateway keeps serving.
      const first = await chat(url[1]!, "hello from the detached gateway")
      assert.equal(first.headers.get("x-isartor-layer"), "l3")
      const again = await chat(url[1]!, "hello from the detached gateway")
      assert.equal(again.headers.get("x-isartor-layer"), "l1a")

      const second = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(second.code, 1)
      assert.match(second.stderr, new RegExp(`already running \\(pid ${pid}`))

      const status = await run(["status", "--json"], user.env)
      assert.equal(status.code, 0, status.stderr)
      const parsed = JSON.parse(status.stdout) as {
        running: boolean
        pid: number
        url: string
        version: string
        layers: Record<string, { status: string }>
        deflection: number | null
      }
      assert.equal(parsed.running, true)
      assert.equal(parsed.pid, pid)
      assert.equal(parsed.url, url[1])
      assert.equal(parsed.version, packageVersion)
      assert.equal(parsed.layers.l1a?.status, "ok")
      // One answer from the provider, one from the exact cache: half deflected, from /metrics.
      assert.equal(parsed.deflection, 0.5)
      const human = await run(["status"], user.env)
      assert.match(human.stdout, /isartor is running at http:/)

      // A request still waiting on the provider when `stop` is given finishes before the gateway exits: the provider
      // holds its answer until the gateway is seen draining, however long `stop` takes to get there.
      const gate = makeGate()
      upstream.queue.push({ kind: "ok", gate: gate.closed })
      const callsBefore = upstream.calls.length
      const inFlight = chat(url[1]!, "a slow question asked just before stop")
      // Awaited below; a failure while the gate is shut is reported there, not as an unhandled rejection.
      void inFlight.catch(() => undefined)
      await eventually(() => upstream.calls.length > callsBefore, { what: "the slow question to reach the provider" })
      const stopping = run(["stop"], user.env)
      try {
        await eventually(async () => (await fetch(`${url[1]}/healthz`)).status === 503, {
          what: "the gateway to drain once `stop` was given"
        })
      } finally {
        gate.open()
      }
      const stopped = await stopping
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.match(stopped.stdout, new RegExp(`isartor stopped \\(pid ${pid}\\)`))
      assert.doesNotMatch(stopped.stderr, /killing/)
      assert.equal((await inFlight).status, 200)
      assert.equal(alive(pid), false)
      assert.equal(existsSync(join(user.env.ISARTOR_HOME!, "isartor.pid")), false)
      const after = await run(["status"], user.env)
      assert.equal(after.code, 1)
      assert.match(after.stdout, /not running/)
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      user.cleanup()
    }
  })

  it("status reads the gateway key from the config file up was given, and reports the layers behind it", async () => {
    // No drain on `stop` (5 s by default): the first test here checks it.
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact", ISARTOR__SHUTDOWN_DRAIN_SECS: "0" }))
    let pid: number | undefined
    try {
      writeFileSync(join(user.home, "keyed.toml"), "gateway_api_key = \"local-secret\"\n")
      const started = await run(["up", "--detach", "--port", "0", "--config", "keyed.toml"], user.env)
      assert.equal(started.code, 0, started.stderr)
      pid = Number(/\(pid (\d+)\)/.exec(started.stdout)![1])
      const url = /running at (http:\/\/\S+) /.exec(started.stdout)![1]!
      assert.equal((await fetch(`${url}/health`)).status, 401)
      const status = await run(["status", "--json"], user.env)
      const parsed = JSON.parse(status.stdout) as { answering: boolean; layers: Record<string, { status: string }> }
      assert.equal(parsed.answering, true)
      assert.equal(parsed.layers.l1a?.status, "ok")
      assert.equal((await run(["stop"], user.env)).code, 0)
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      user.cleanup()
    }
  })

  it("stop --timeout: a gateway that cannot finish in time is killed, with a warning, and nothing is left behind", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact", ISARTOR__L3_TIMEOUT_SECS: "600" }))
    let pid: number | undefined
    try {
      const started = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(started.code, 0, started.stderr)
      const match = /running at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stdout)!
      pid = Number(match[2])
      // A request whose provider never answers keeps the graceful shutdown waiting.
      upstream.queue.push({ kind: "hang" })
      const callsBefore = upstream.calls.length
      const hanging = chat(match[1]!, "a question the provider never answers").catch(() => undefined)
      await eventually(() => upstream.calls.length > callsBefore, {
        what: "the hanging question to reach the provider"
      })
      const stopped = await run(["stop", "--timeout", "1"], user.env)
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.match(stopped.stderr, new RegExp(`warning: pid ${pid} did not stop within 1 s; killing it`))
      assert.match(stopped.stdout, /isartor stopped \(pid \d+, killed\)/)
      assert.equal(alive(pid), false)
      assert.equal(existsSync(join(user.env.ISARTOR_HOME!, "isartor.pid")), false)
      await hanging
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      user.cleanup()
    }
  })

  it("a stale pid file is cleaned: a dead pid, and a pid now used by another program, which is never signalled", async () => {
    const user = userEnv()
    const stranger = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" })
    try {
      const state = user.env.ISARTOR_HOME!
      mkdirSync(state, { recursive: true })
      const record = (pid: number) =>
        writeFileSync(
          join(state, "isartor.pid"),
          JSON.stringify({
            pid,
            url: "http://127.0.0.1:9",
            startedAt: 0,
            version: "0",
            log: null,
            commandLine: "node /opt/isartor/bin/isartor up"
          })
        )
      // A pid that is certainly gone: a process that has exited.
      const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" })
      await once(gone, "exit")
      record(gone.pid!)
      const status = await run(["status"], user.env)
      assert.equal(status.code, 1)
      assert.match(status.stdout, /not running.*stale pid file.*is gone/)
      assert.equal(existsSync(join(state, "isartor.pid")), false)

      record(stranger.pid!)
      const stop = await run(["stop"], user.env)
      assert.equal(stop.code, 0)
      assert.match(stop.stdout, /another program.*nothing was stopped/)
      assert.equal(alive(stranger.pid!), true)
      assert.equal(existsSync(join(state, "isartor.pid")), false)
    } finally {
      stranger.kill("SIGKILL")
      user.cleanup()
    }
  })

  it("refuses a port that is taken with one line naming the port, the process and ISARTOR__HOST_PORT at a free port", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact" }))
    const { port, blockers } = await takeTwoPorts()
    try {
      const refused = await run(["up", "--detach"], { ...user.env, ISARTOR__HOST_PORT: `127.0.0.1:${port}` })
      assert.equal(refused.code, 1)
      const lines = refused.stderr.trim().split("\n")
      assert.equal(lines.length, 1, refused.stderr)
      assert.match(lines[0]!, new RegExp(`port ${port} .*already in use`))
      if (existsSync("/proc/net/tcp")) assert.match(lines[0]!, new RegExp(`by pid ${process.pid} `))
      const suggested = Number(
        /isartor up --port (\d+), or ISARTOR__HOST_PORT=127\.0\.0\.1:(\d+) /.exec(lines[0]!)?.[2]
      )
      assert.match(lines[0]!, new RegExp(`--port ${suggested},`))
      // The next port is taken too: the suggestion is one the command found free.
      assert.ok(suggested > port + 1, lines[0])
      assert.equal(await portIsFree("127.0.0.1", suggested), true)
      assert.equal(existsSync(join(user.env.ISARTOR_HOME!, "isartor.pid")), false)
    } finally {
      for (const blocker of blockers) blocker.close()
      user.cleanup()
    }
  })

  for (const runtime of ["node", "bun", "deno"] as const) {
    it(`the gateway itself (npm run start:${runtime}) on a taken port: one line naming it and ISARTOR__HOST_PORT at a free port, exit 1`, async () => {
      const { port, blockers } = await takeTwoPorts()
      const user = userEnv(
        upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact", ISARTOR__HOST_PORT: `127.0.0.1:${port}` })
      )
      try {
        // ISARTOR_HOME is the command's, not a gateway setting: npm start would warn about it (see cli/gatewayEnv.ts).
        const { ISARTOR_HOME: _home, ...env } = user.env
        const result = await run([], env, {
          command: runtimeCommand(runtime, `runtimes/${runtime}.ts`),
          cwd: projectRoot
        })
        assert.equal(result.code, 1)
        // Deno run without --allow-write keeps the usage ledger in memory and says so first; then the one line.
        const lines = result.stderr.trim().split("\n").filter((line) =>
          !line.startsWith("isartor: warning: usage ledger:")
        )
        assert.equal(lines.length, 1, result.stderr)
        const suggested = Number(/ISARTOR__HOST_PORT=127\.0\.0\.1:(\d+) \(free now\)$/.exec(lines[0]!)?.[1])
        assert.equal(
          lines[0],
          `isartor: port ${port} is already in use (127.0.0.1:${port}); stop the process holding it, or choose another port: ISARTOR__HOST_PORT=127.0.0.1:${suggested} (free now)`
        )
        // The next port is taken too: the suggestion is one the gateway found free.
        assert.ok(suggested > port + 1, lines[0])
        assert.equal(await portIsFree("127.0.0.1", suggested), true)
      } finally {
        for (const blocker of blockers) blocker.close()
        user.cleanup()
      }
    })
  }

  it("in the foreground, Ctrl-C (SIGINT) stops the gateway gracefully and removes its pid file", async () => {
    const user = userEnv(upstreamEnv(upstream.url, { ISARTOR__CACHE_MODE: "exact", ISARTOR__HOST_PORT: "127.0.0.1:0" }))
    const child = spawn(process.execPath, [join(projectRoot, "bin/isartor"), "up"], {
      cwd: user.home,
      env: user.env,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    try {
      const url = (await eventually(() => /listening on (http:\/\/\S+)/.exec(output), {
        what: "isartor up to print the address it listens on",
        timeoutMs: 30_000,
        intervalMs: 50,
        failFast: () => (child.exitCode === null ? undefined : `it exited with code ${child.exitCode}:\n${output}`)
      }))[1]!
      assert.equal((await chat(url, "foreground")).status, 200)
      assert.equal(existsSync(join(user.env.ISARTOR_HOME!, "isartor.pid")), true)
      const exited = once(child, "exit")
      child.kill("SIGINT")
      const [code] = await exited
      assert.equal(code, 0, output)
      assert.equal(existsSync(join(user.env.ISARTOR_HOME!, "isartor.pid")), false)
    } finally {
      child.kill("SIGKILL")
      user.cleanup()
    }
  })
})
