// The fuzz run as a node:test suite, run by test/reliability/fuzz.test.ts (Node) and fuzz.e2e.ts (Bun and Deno): the
// gateways started, the run made, then every check a test of its own.
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import type { RuntimeName } from "../processes.ts"
import { type Finding, type FuzzResult, runFuzz } from "./run.ts"
import { type FuzzTargets, startFuzzTargets } from "./targets.ts"
import { probeHealthz } from "./watch.ts"

export const FUZZ_SEED = 20261128

export interface FuzzRun {
  readonly runtime: RuntimeName
  readonly requests: number
  readonly timeLimitMs: number
}

const listed = (findings: ReadonlyArray<Finding>) =>
  findings.map((finding) =>
    `\n\n${finding.signature} (${finding.occurrences}×${
      finding.reproduced ? "" : ", did not fail again when re-run alone"
    })\n` +
    `${finding.reproducer}${finding.log ? `\n${finding.log}` : ""}`
  ).join("")

/**
 * One fuzz run as a suite: the gateways of `runtime` started, `requests` sent (at most `timeLimitMs`), then every
 * check a test of its own. `semantic`: L1b's backends for Node; elsewhere it only says to start that gateway.
 */
export const describeFuzzRun = (
  { runtime, requests, timeLimitMs }: FuzzRun,
  semantic: SemanticBackends
) => {
  const servedBy = runtime === "node" ? "" : ` on ${runtime}'s own server`
  describe(`reliability: ${requests.toLocaleString("en")} generated requests on every route${servedBy}`, () => {
    let targets: FuzzTargets
    let result: FuzzResult
    let healthz: Awaited<ReturnType<ReturnType<typeof probeHealthz>["stop"]>>

    before(async () => {
      targets = await startFuzzTargets({ runtime, semantic })
      const probe = probeHealthz(targets.gateways.open!.url)
      result = await runFuzz({ seed: FUZZ_SEED, requests, workers: 6, targets, timeLimitMs })
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
      assert.ok(result.requests >= requests, `only ${result.requests} requests were sent in the time limit`)
      if (runtime === "node") {
        assert.ok(
          (result.transportCounts.socket ?? 0) > requests / 20,
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

    // How long /healthz took is a figure (bench/fuzz.ts prints it), not a check: on cores shared with other work a probe
    // waits for a core however well the gateway behaves. A loop blocked by the gateway is told apart by CPU time.
    it("keeps /healthz answering throughout, and the event loop never busy over 1 s without yielding", () => {
      const blocked = findingsWhere((signature) => /event loop blocked/.test(signature))
      const stalls = result.stalls.slice(0, 5).map((stall) =>
        `\n\nblocked ${stall.blockedMs} ms at ${stall.atMs} ms${
          stall.target ? ` (the ${stall.target} gateway)` : ""
        }, in flight:\n${stall.inFlight.join("\n")}`
      )
      assert.deepEqual(healthz.failures, [])
      assert.ok(healthz.count > 0)
      assert.deepEqual(stalls, [], stalls.join("") + listed(blocked))
    })

    it("finds nothing else", () => {
      const known = /status 500|no response|process-level|error body|body is not JSON|stream|event loop blocked/
      const failures = findingsWhere((signature) => !known.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })
  })
}
