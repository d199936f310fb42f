// Three gateway replicas (the Node runtime, each its own process) behind HAProxy running deploy/haproxy/haproxy.cfg,
// sharing a three-master Redis Cluster: what an operator running replicas behind a load balancer relies on. Each
// scenario is bounded; everything listens on loopback.
import assert from "node:assert/strict"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, it, type TestContext } from "node:test"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { makeGate } from "../support/fakeProviders.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { projectRoot, runtimeCommand, type StartedProcess, startProcess } from "../support/processes.ts"
import { freePort, type RedisCluster, startRedisCluster } from "../support/redis.ts"

const HAPROXY = "/usr/sbin/haproxy"
const toolsPresent = existsSync(HAPROXY) && spawnSync("redis-server", ["--version"]).status === 0
const present = (t: TestContext) =>
  installed(t, toolsPresent, "haproxy and redis-server", "apt-get install haproxy redis-server")

/** Shorter than the default 5 s, still longer than the example config needs to take a replica out (2 × 1 s). */
const DRAIN_SECS = 3
// Only how long a failing scenario takes to fail: replicas restarting on a loaded machine take their time.
const SCENARIO_MS = 180_000

interface Replica {
  readonly name: string
  readonly port: number
  process: StartedProcess
}

let upstream: FakeOpenAI
let cluster: RedisCluster
let replicas: Array<Replica> = []
let haproxy: ChildProcess | undefined
let haproxyOutput = ""
let lb = ""
let stats = ""

const startReplica = (port: number) =>
  startProcess(runtimeCommand("node", "runtimes/node.ts"), {
    ...upstreamEnv(upstream.url, {
      ISARTOR__HOST_PORT: `127.0.0.1:${port}`,
      // Chat Completions only: the gateway translates /v1/responses and keeps each conversation in its store, rather
      // than passing it through to an upstream that would keep it.
      ISARTOR__LLM_PROVIDER: "openai-compatible",
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__REDIS_URL: cluster.url,
      // L1a alone: three replicas, a cluster and the load share two cores; L1b is not what these scenarios are about.
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__L3_MAX_RETRIES: "0",
      ISARTOR__SHUTDOWN_DRAIN_SECS: String(DRAIN_SECS)
    })
  })

/** Each replica's state as HAProxy sees it (UP, DOWN, "UP 1/2" while going down…), from its stats CSV. */
const lbStates = async (): Promise<Record<string, string>> => {
  const csv = await (await fetch(`${stats}/stats;csv`)).text()
  const [header, ...rows] = csv.trim().split("\n")
  const columns = header!.replace(/^# /, "").split(",")
  const at = (name: string) => columns.indexOf(name)
  return Object.fromEntries(
    rows.map((row) => row.split(","))
      .filter((cells) => cells[at("pxname")] === "replicas" && cells[at("svname")]!.startsWith("gateway-"))
      .map((cells) => [cells[at("svname")]!, cells[at("status")]!])
  )
}
const lbSees = (name: string, status: string) =>
  eventually(async () => (await lbStates())[name] === status, {
    what: `HAProxy to see ${name} ${status}`,
    timeoutMs: 20_000,
    intervalMs: 100,
    failFast: () => (haproxy?.exitCode === null ? undefined : `haproxy exited:\n${haproxyOutput}`)
  })

const exitOf = (child: ChildProcess) =>
  eventually(() => (child.exitCode ?? child.signalCode) ?? undefined, {
    what: "the replica to exit",
    timeoutMs: 20_000,
    intervalMs: 20
  })

before(async () => {
  if (!toolsPresent) return
  upstream = await startFakeOpenAI()
  cluster = await startRedisCluster(3)
  const ports = [await freePort(), await freePort(), await freePort()]
  replicas = await Promise.all(
    ports.map(async (port, i) => ({ name: `gateway-${i + 1}`, port, process: await startReplica(port) }))
  )
  const [lbPort, statsPort] = [await freePort(), await freePort()]
  lb = `http://127.0.0.1:${lbPort}`
  stats = `http://127.0.0.1:${statsPort}`
  haproxy = spawn(HAPROXY, ["-db", "-f", join(projectRoot, "deploy/haproxy/haproxy.cfg")], {
    env: {
      PATH: process.env.PATH ?? "",
      ISARTOR_LB_BIND: `127.0.0.1:${lbPort}`,
      ISARTOR_LB_STATS_BIND: `127.0.0.1:${statsPort}`,
      ...Object.fromEntries(replicas.map((replica, i) => [`ISARTOR_REPLICA_${i + 1}`, `127.0.0.1:${replica.port}`]))
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const keep = (chunk: Buffer) => (haproxyOutput = (haproxyOutput + chunk.toString()).slice(-20_000))
  haproxy.stdout!.on("data", keep)
  haproxy.stderr!.on("data", keep)
  await eventually(
    async () => Object.values(await lbStates().catch(() => ({}))).filter((state) => state === "UP").length === 3,
    { what: "HAProxy to see three replicas UP", timeoutMs: 20_000, intervalMs: 100 }
  )
})

after(async () => {
  if (!toolsPresent) return
  haproxy?.kill("SIGKILL")
  for (const replica of replicas) replica.process.stop()
  await cluster?.stop()
  await upstream?.close()
})

const post = (path: string, body: unknown, caller = "caller-one") =>
  fetch(`${lb}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${caller}` },
    body: JSON.stringify(body)
  })
const chatBody = (content: string) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })

interface Outcome {
  readonly ok: boolean
  readonly started: number
  readonly detail: string
}

/** Requests through the load balancer, `concurrency` at a time, each a new prompt (an L3 call), until stopped. */
const startLoad = (concurrency: number, limit: number) => {
  const outcomes: Array<Outcome> = []
  let sent = 0
  let inFlight = 0
  let stopped = false
  const worker = async () => {
    while (!stopped && sent < limit) {
      const n = ++sent
      const started = performance.now()
      inFlight++
      try {
        const response = await post("/v1/chat/completions", chatBody(`load ${n} ${Math.random()}`))
        const text = await response.text()
        outcomes.push({ ok: response.status === 200, started, detail: `${response.status} ${text.slice(0, 200)}` })
      } catch (error) {
        outcomes.push({ ok: false, started, detail: (error as Error).message })
      } finally {
        inFlight--
      }
    }
  }
  const workers = Array.from({ length: concurrency }, worker)
  return {
    outcomes,
    inFlight: () => inFlight,
    stop: async () => {
      stopped = true
      await Promise.all(workers)
      return outcomes
    }
  }
}
const failuresIn = (outcomes: ReadonlyArray<Outcome>) => outcomes.filter((outcome) => !outcome.ok)

describe("three replicas behind HAProxy on a Redis Cluster", () => {
  it("continues a Responses conversation (previous_response_id) while its turns alternate replicas", {
    timeout: SCENARIO_MS
  }, async (t) => {
    if (!present(t)) return
    upstream.setDefault({ kind: "ok" })
    let previous: string | undefined
    const servedBy: Array<string> = []
    const ids: Array<string> = []
    let last: { id: string; output_text?: string; output: Array<{ content?: Array<{ text?: string }> }> } | undefined
    for (let turn = 1; turn <= 4; turn++) {
      const response = await post("/v1/responses", {
        model: "gpt-4o-mini",
        input: `turn ${turn}`,
        ...(previous ? { previous_response_id: previous } : {})
      })
      const text = await response.text()
      assert.equal(response.status, 200, `turn ${turn}: ${text}`)
      servedBy.push(response.headers.get("x-isartor-replica") ?? "")
      last = JSON.parse(text) as typeof last
      previous = last!.id
      ids.push(previous)
    }
    for (let i = 1; i < servedBy.length; i++) assert.notEqual(servedBy[i], servedBy[i - 1], servedBy.join(", "))
    assert.equal(new Set(servedBy).size, 3, servedBy.join(", "))
    // The upstream was sent the whole conversation, from whichever replica kept each turn: four questions, three answers.
    assert.match(JSON.stringify(last!.output), /Answer #7 to: turn 4/)

    // Any replica reads any stored response back for its caller, and for no other caller.
    const readers = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const read = await fetch(`${lb}/v1/responses/${ids[0]}`, { headers: { authorization: "Bearer caller-one" } })
      assert.equal(read.status, 200, await read.clone().text())
      assert.equal(((await read.json()) as { id: string }).id, ids[0])
      readers.add(read.headers.get("x-isartor-replica") ?? "")
    }
    assert.equal(readers.size, 3)
    const stranger = await fetch(`${lb}/v1/responses/${ids[0]}`, { headers: { authorization: "Bearer caller-two" } })
    assert.equal(stranger.status, 404)
  })

  it(
    "serves an answer one replica cached from the others, without asking upstream again",
    { timeout: SCENARIO_MS },
    async (t) => {
      if (!present(t)) return
      const prompt = `cached once ${Math.random()}`
      const first = await post("/v1/chat/completions", chatBody(prompt))
      assert.equal(first.status, 200, await first.clone().text())
      assert.equal(first.headers.get("x-isartor-layer"), "l3")
      const writer = first.headers.get("x-isartor-replica")
      const answer = await first.json()
      const hitsBy = new Set<string>()
      for (let i = 0; i < 3; i++) {
        const again = await post("/v1/chat/completions", chatBody(prompt))
        assert.equal(again.headers.get("x-isartor-layer"), "l1a", `request ${i + 2}`)
        assert.deepEqual(await again.json(), answer)
        hitsBy.add(again.headers.get("x-isartor-replica") ?? "")
      }
      assert.equal(hitsBy.size, 3, [...hitsBy].join(", "))
      assert.ok(writer && hitsBy.has(writer))
    }
  )

  it("on SIGTERM: /healthz turns 503, HAProxy takes the replica out, then its in-flight requests finish", {
    timeout: SCENARIO_MS
  }, async (t) => {
    if (!present(t)) return
    const replica = replicas[0]!
    const direct = `http://127.0.0.1:${replica.port}`
    // Answers held until the server has stopped accepting: they are in flight through the whole drain, however slow.
    const gate = makeGate()
    upstream.setDefault({ kind: "ok", gate: gate.closed })
    const callsBefore = upstream.calls.length
    try {
      const slow = [1, 2, 3].map((n) =>
        fetch(`${direct}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(chatBody(`slow ${n} ${Math.random()}`))
        })
      )
      // Awaited below; a failure while the gate is shut is reported there, not as an unhandled rejection.
      for (const answer of slow) void answer.catch(() => undefined)
      await eventually(() => upstream.calls.length >= callsBefore + 3, { what: "the slow requests to reach upstream" })
      replica.process.child.kill("SIGTERM")
      await eventually(async () => (await fetch(`${direct}/healthz`)).status === 503, {
        what: "the draining replica's /healthz to answer 503"
      })
      await lbSees(replica.name, "DOWN")
      assert.equal(replica.process.child.exitCode, null, "taken out by HAProxy before it stopped")
      await eventually(() => fetch(`${direct}/healthz`).then(() => false, () => true), {
        what: "the drained replica to stop accepting",
        timeoutMs: 20_000
      })
      assert.equal(replica.process.child.exitCode, null, "it waits for the requests in flight")
      gate.open()
      const answers = await Promise.all(slow)
      assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200])
      assert.equal(await exitOf(replica.process.child), 0, replica.process.output())
    } finally {
      gate.open()
      upstream.setDefault({ kind: "ok" })
    }
    replica.process = await startReplica(replica.port)
    await lbSees(replica.name, "UP")
  })

  it("rolls a restart through all three under load without failing a request", { timeout: SCENARIO_MS }, async (t) => {
    if (!present(t)) return
    upstream.setDefault({ kind: "ok", delayMs: 100 })
    const load = startLoad(6, 2000)
    // Counted, not timed: each replica goes down only once the load is answered around it, and more is answered while
    // it drains, however fast the machine gets through them.
    const answered = (more: number, what: string) => {
      const target = load.outcomes.length + more
      return eventually(() => load.outcomes.length >= target, { what, timeoutMs: 30_000 })
    }
    try {
      for (const replica of replicas) {
        await answered(10, `10 requests answered before ${replica.name} restarts`)
        replica.process.child.kill("SIGTERM")
        await answered(10, `10 requests answered once ${replica.name} got SIGTERM`)
        assert.equal(await exitOf(replica.process.child), 0, replica.process.output())
        replica.process = await startReplica(replica.port)
        await lbSees(replica.name, "UP")
      }
    } finally {
      await load.stop()
      upstream.setDefault({ kind: "ok" })
    }
    assert.deepEqual(failuresIn(load.outcomes).map((failure) => failure.detail), [])
  })

  it("on SIGKILL, loses at most the requests that replica had in flight", { timeout: SCENARIO_MS }, async (t) => {
    if (!present(t)) return
    upstream.setDefault({ kind: "ok", delayMs: 300 })
    const load = startLoad(6, 2000)
    const replica = replicas[1]!
    let inFlightAtKill = 0
    let killedAt = 0
    try {
      await eventually(() => load.outcomes.length >= 20, { what: "the load to be under way", timeoutMs: 20_000 })
      inFlightAtKill = load.inFlight()
      killedAt = performance.now()
      replica.process.child.kill("SIGKILL")
      await lbSees(replica.name, "DOWN")
      await eventually(() => load.outcomes.filter((outcome) => outcome.started > killedAt).length >= 30, {
        what: "30 requests sent after the kill to be answered",
        timeoutMs: 20_000
      })
    } finally {
      await load.stop()
      upstream.setDefault({ kind: "ok" })
    }
    const failures = failuresIn(load.outcomes)
    assert.ok(
      failures.length <= inFlightAtKill,
      `${failures.length} failed, ${inFlightAtKill} were in flight: ${failures.map((f) => f.detail).join("; ")}`
    )
    assert.deepEqual(failures.filter((failure) => failure.started > killedAt).map((failure) => failure.detail), [])
    replica.process = await startReplica(replica.port)
    await lbSees(replica.name, "UP")
  })
})
