// Generated requests (fixed seed) against three gateways on a loopback fake upstream — open, secured by a gateway
// key, and with the semantic cache on the real model — on every route, with hostile bodies and headers. On Node the
// gateways run in this process: most requests go through the gateway's fetch, a share over real sockets (chunked,
// slow, oversized). On Bun and Deno each is served by the runtime's own server in a process of its own: every
// request over a socket, the event loop watched from outside through /healthz. A failure is shrunk by fast-check
// and printed as curl commands; the run goes on, so one run lists every distinct defect.
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { semanticBackends } from "../../runtimes/shared.ts"
import {
  type Finding,
  type FuzzResult,
  type FuzzTargets,
  probeHealthz,
  runFuzz,
  startFuzzTargets
} from "../support/fuzz.ts"
import type { RuntimeName } from "../support/processes.ts"

const SEED = 20261128

// Bun and Deno get half Node's count: every request there is a real connection through two processes (no in-process
// shortcut) on cores the suite shares, and both runs must fit its time budget beside Node's with room for a busy
// machine. The same seed and generator: their requests are the first of the same sequence.
const runs: ReadonlyArray<{ readonly runtime: RuntimeName; readonly requests: number; readonly timeLimitMs: number }> =
  [
    { runtime: "node", requests: 10_000, timeLimitMs: 100_000 },
    { runtime: "bun", requests: 5_000, timeLimitMs: 60_000 },
    { runtime: "deno", requests: 5_000, timeLimitMs: 60_000 }
  ]

const listed = (findings: ReadonlyArray<Finding>) =>
  findings.map((finding) =>
    `\n\n${finding.signature} (${finding.occurrences}×${
      finding.reproduced ? "" : ", did not fail again when re-run alone"
    })\n` +
    `${finding.reproducer}${finding.log ? `\n${finding.log}` : ""}`
  ).join("")
for (const { runtime, requests: REQUESTS, timeLimitMs } of runs) {
  const servedBy = runtime === "node" ? "" : ` on ${runtime}'s own server`
  describe(`reliability: ${REQUESTS.toLocaleString("en")} generated requests on every route${servedBy}`, () => {
    let targets: FuzzTargets
    let result: FuzzResult
    let healthz: Awaited<ReturnType<ReturnType<typeof probeHealthz>["stop"]>>

    before(async () => {
      targets = await startFuzzTargets({
        runtime,
        semantic: semanticBackends(process.env, new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url))
      })
      const probe = probeHealthz(targets.gateways.open!.url)
      result = await runFuzz({ seed: SEED, requests: REQUESTS, workers: 6, targets, timeLimitMs })
      healthz = await probe.stop()
      const { findings, stalls, starved, ...figures } = result
      const blockedMs = Math.max(0, ...stalls.map((stall) => stall.blockedMs))
      const { slow, ...latency } = healthz
      console.log(JSON.stringify({
        runtime,
        ...figures,
        distinctFailures: findings.length,
        stalls: stalls.length,
        longestStallMs: blockedMs,
        starvedGaps: starved.length,
        healthz: { ...latency, over1s: slow.length }
      }))
    }, { timeout: timeLimitMs + 80_000 })
    after(() => targets?.close())

    const findingsWhere = (test: (signature: string) => boolean) =>
      result.findings.filter((finding) => test(finding.signature))

    it("sends them all", () => {
      assert.ok(result.requests >= REQUESTS, `only ${result.requests} requests were sent in the time limit`)
      if (runtime === "node") {
        assert.ok(
          (result.transportCounts.socket ?? 0) > REQUESTS / 20,
          "a share of the requests goes over real sockets"
        )
      } else assert.deepEqual(Object.keys(result.transportCounts), ["socket"], "every request goes over a socket")
    })

    it("answers every request, never with a 500, and nothing escapes as an uncaught error", () => {
      const failures = findingsWhere((signature) => /status 500|no response|process-level/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("writes every error as JSON in the client's format (Anthropic's on /v1/messages, OpenAI's elsewhere)", () => {
      const failures = findingsWhere((signature) => /error body|body is not JSON/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("ends every stream the way the client's SDK expects, with no error event", () => {
      const failures = findingsWhere((signature) => /stream/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("keeps /healthz answering within 1 s throughout, and the event loop never blocked over 1 s", () => {
      const blocked = findingsWhere((signature) => /event loop blocked/.test(signature))
      const stalls = result.stalls.slice(0, 5).map((stall) =>
        `\n\nblocked ${stall.blockedMs} ms at ${stall.atMs} ms${
          stall.target ? ` (the ${stall.target} gateway)` : ""
        }, in flight:\n${stall.inFlight.join("\n")}`
      )
      assert.deepEqual(healthz.failures, [])
      assert.ok(healthz.count > 0)
      // A probe slowed only while the machine's cores were busy elsewhere (the gateway hardly ran) is not the gateway's.
      const slowProbes = healthz.slow.filter((probe) =>
        !result.starved.some((gap) => gap.from <= probe.to && gap.to >= probe.from)
      )
      assert.deepEqual(
        slowProbes.length,
        0,
        `/healthz took ${healthz.max} ms (p99 ${healthz.p99} ms)${stalls.join("")}${listed(blocked)}`
      )
      assert.deepEqual(stalls, [], stalls.join("") + listed(blocked))
    })

    it("finds nothing else", () => {
      const known = /status 500|no response|process-level|error body|body is not JSON|stream|event loop blocked/
      const failures = findingsWhere((signature) => !known.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })
  })
}
