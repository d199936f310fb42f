import assert from "node:assert/strict"
import { before, describe, it } from "node:test"
import { installed } from "../support/installed.ts"
import { cliInstalled, runCodex } from "./clis.ts"
import {
  compatUpstreams,
  GATEWAY_ATTEMPTS,
  type RecordedFixture,
  recordedRequests,
  replay,
  type SseEvent,
  sseEvents,
  upstreamFormats
} from "./suite.ts"

// Codex's request as the CLI really sends it (test/fixtures/clients/codex.json: a streamed Responses API call with
// developer messages, function, namespace and web_search tools, reasoning, store: false, include, client_metadata),
// replayed through the gateway; then `codex exec` itself through the gateway.
const upstreams = compatUpstreams()
let recorded: RecordedFixture
before(async () => {
  recorded = (await recordedRequests("codex.json"))[0]!
})

/**
 * The streamed answer's output items, after checking the events are the typed Responses events Codex reads.
 * Offered Codex's tools, the fake model calls the first one (exec_command).
 */
const streamedOutput = (events: Array<SseEvent>) => {
  const types = events.map((event) => event.data.type)
  assert.equal(types[0], "response.created")
  assert.equal(types.at(-1), "response.completed")
  for (const [index, event] of events.entries()) {
    if (event.event !== undefined) assert.equal(event.data.type, event.event)
    assert.equal(event.data.sequence_number, index, "sequence numbers count the events from 0")
  }
  const completed = events.at(-1)!.data.response
  assert.equal(completed.status, "completed")
  const call = completed.output.find((item: { type: string }) => item.type === "function_call")
  assert.equal(call?.name, "exec_command", JSON.stringify(completed.output))
  assert.equal(typeof JSON.parse(call.arguments).query, "string")
  const added = events.filter((event) => event.data.type === "response.output_item.added")
  assert.ok(added.some((event) => event.data.item.type === "function_call"), types.join(" "))
  return completed.output.map((item: { type: string; name?: string; arguments?: string }) => [
    item.type,
    item.name,
    item.arguments
  ])
}

describe("Codex's recorded request through the gateway", () => {
  for (const format of upstreamFormats) {
    it(`is answered as Responses API events, then from L1a (${format}-format upstream)`, async () => {
      const gateway = upstreams.gateway(format)
      const before = upstreams.modelCalls()
      const credential = { authorization: `Bearer codex-replay-${format}` }
      const first = await replay(gateway, recorded, credential)
      const body = await first.text()
      assert.equal(first.status, 200, body)
      assert.match(first.headers.get("content-type") ?? "", /^text\/event-stream/)
      assert.equal(first.headers.get("x-isartor-layer"), "l3")
      const output = streamedOutput(sseEvents(body))
      assert.equal(upstreams.modelCalls(), before + 1)

      const second = await replay(gateway, recorded, credential)
      assert.equal(second.headers.get("x-isartor-layer"), "l1a")
      assert.deepEqual(streamedOutput(sseEvents(await second.text())), output)
      assert.equal(upstreams.modelCalls(), before + 1)
    })
  }
})

describe("Codex's recorded request, same format", () => {
  it("reaches an OpenAI upstream unchanged: the same body, byte for byte, at /v1/responses", async () => {
    const response = await replay(upstreams.gateway("openai"), recorded, { authorization: "Bearer codex-fidelity" })
    assert.equal(response.status, 200, await response.text())
    const call = upstreams.providers().calls.at(-1)!
    assert.equal(call.path, "/v1/responses")
    assert.equal(call.raw, JSON.stringify(recorded.body))
  })
})

describe("codex exec through the gateway", () => {
  for (const format of upstreamFormats) {
    it(`runs the command the model asked for and prints the model's answer (${format}-format upstream)`, async (t) => {
      if (!installed(t, cliInstalled("codex"), "the codex CLI", ".ci/run installs it into .ci/clis")) return
      const before = upstreams.modelCalls()
      const run = (await runCodex(`${upstreams.gateway(format).url}/v1`, "say hi"))[0]!
      assert.equal(run.code, 0, run.stderr)
      // The fake model calls exec_command with arguments Codex cannot run; its refusal goes back as the result.
      assert.match(run.stdout, /^Tool said: /)
      assert.ok(upstreams.modelCalls() >= before + 2, "both turns went through the gateway to the upstream")
    })
  }

  for (const format of ["openai"] as const) {
    it(
      `answers the same prompt again in the same project from the cache, without an upstream call (${format}-format upstream)`,
      async (t) => {
        if (!installed(t, cliInstalled("codex"), "the codex CLI", ".ci/run installs it into .ci/clis")) return
        const before = upstreams.modelCalls()
        const [first, second] = await runCodex(`${upstreams.gateway(format).url}/v1`, "say hi again", "say hi again")
        assert.equal(first!.code, 0, first!.stderr)
        assert.equal(second!.code, 0, second!.stderr)
        assert.equal(second!.stdout, first!.stdout)
        assert.equal(upstreams.modelCalls() - before, 2)
      }
    )
  }

  // Codex does not read x-should-retry: an upstream 500 (a 502 from the gateway) costs 5 stream reconnects times 5
  // request attempts, 30 gateway requests and 90 upstream calls in ≈ 27 s (measured), too slow for this suite. A 429
  // it does not retry.
  it(`gives up on an upstream 429 after the gateway's ${GATEWAY_ATTEMPTS} attempts`, async (t) => {
    if (!installed(t, cliInstalled("codex"), "the codex CLI", ".ci/run installs it into .ci/clis")) return
    const providers = upstreams.providers()
    for (let i = 0; i < 10 * GATEWAY_ATTEMPTS; i++) {
      providers.queue.push({ kind: "error", status: 429, message: "upstream says 429" })
    }
    const before = upstreams.modelCalls()
    try {
      const run = (await runCodex(`${upstreams.gateway("openai").url}/v1`, "say hi"))[0]!
      assert.equal(run.code, 1)
      assert.match(run.stderr, /429 Too Many Requests/)
      assert.equal(upstreams.modelCalls() - before, GATEWAY_ATTEMPTS)
    } finally {
      providers.queue.length = 0
    }
  })
})
