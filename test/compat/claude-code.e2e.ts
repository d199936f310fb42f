import assert from "node:assert/strict"
import { before, describe, it } from "node:test"
import { installed } from "../support/installed.ts"
import { cliInstalled, runClaude } from "./clis.ts"
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

// Claude Code's request as the CLI really sends it (test/fixtures/clients/claude-code.json: system turns inside
// `messages`, cache_control, adaptive thinking, context_management, output_config, a list of betas), replayed
// through the gateway; then the CLI itself through the gateway.
const upstreams = compatUpstreams()
let recorded: RecordedFixture
before(async () => {
  recorded = (await recordedRequests("claude-code.json"))[0]!
})

/**
 * The streamed answer, after checking its events come in the order the Anthropic SDK expects. Offered Claude Code's
 * tools, the fake model calls the first one (Agent) with the question.
 */
const streamedAnswer = (events: Array<SseEvent>) => {
  const types = events.map((event) => event.event)
  assert.equal(types[0], "message_start")
  assert.equal(types.at(-1), "message_stop")
  for (const event of events) assert.equal(event.data.type, event.event)
  assert.equal(events.find((event) => event.event === "message_delta")?.data.delta.stop_reason, "tool_use")
  const blocks = events.filter((event) => event.event === "content_block_start").map((event) =>
    event.data.content_block
  )
  assert.deepEqual(blocks.map((block) => [block.type, block.name]), [["tool_use", "Agent"]])
  const input = events.filter((event) => event.data.delta?.type === "input_json_delta").map((event) =>
    event.data.delta.partial_json
  ).join("")
  assert.ok(typeof JSON.parse(input).query === "string", input)
  return { id: blocks[0].id, input }
}

describe("Claude Code's recorded request through the gateway", () => {
  for (const format of upstreamFormats) {
    it(`is answered as Anthropic SSE, then from L1a (${format}-format upstream)`, async () => {
      const gateway = upstreams.gateway(format)
      const before = upstreams.modelCalls()
      const credential = { "x-api-key": `claude-replay-${format}` }
      const first = await replay(gateway, recorded, credential)
      const body = await first.text()
      assert.equal(first.status, 200, body)
      assert.match(first.headers.get("content-type") ?? "", /^text\/event-stream/)
      assert.equal(first.headers.get("x-isartor-layer"), "l3")
      const answer = streamedAnswer(sseEvents(body))
      assert.equal(upstreams.modelCalls(), before + 1)

      const second = await replay(gateway, recorded, credential)
      assert.equal(second.headers.get("x-isartor-layer"), "l1a")
      assert.deepEqual(streamedAnswer(sseEvents(await second.text())), answer)
      assert.equal(upstreams.modelCalls(), before + 1)
    })
  }

  it("reaches an Anthropic upstream unchanged: the same body, byte for byte, and the same protocol headers", async () => {
    const response = await replay(upstreams.gateway("anthropic"), recorded, { "x-api-key": "claude-fidelity" })
    assert.equal(response.status, 200, await response.text())
    const call = upstreams.providers().calls.at(-1)!
    assert.equal(call.path.split("?")[0], "/v1/messages")
    assert.equal(call.raw, JSON.stringify(recorded.body))
    assert.equal(call.headers["anthropic-beta"], recorded.headers["anthropic-beta"])
    assert.equal(call.headers["anthropic-version"], recorded.headers["anthropic-version"])
  })
})

describe("claude -p through the gateway", () => {
  // The fake model calls Agent with arguments Claude Code rejects; the rejection goes back as the tool's result, and
  // the model's answer to it is what claude prints.
  it("runs a tool the model asked for and prints the model's answer (openai-format upstream)", async (t) => {
    if (!installed(t, cliInstalled("claude"), "the claude CLI", ".ci/run installs it into .ci/clis")) return
    const before = upstreams.modelCalls()
    const run = (await runClaude(upstreams.gateway("openai").url, "say hi"))[0]!
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Tool said: .*InputValidationError/)
    assert.equal(upstreams.modelCalls() - before, 2, "both turns went through the gateway to the upstream")
  })

  it("does the same, then answers the same prompt again in the same project from the cache (anthropic-format upstream)", async (t) => {
    if (!installed(t, cliInstalled("claude"), "the claude CLI", ".ci/run installs it into .ci/clis")) return
    const before = upstreams.modelCalls()
    // Only metadata (a session id) differs between the two runs' requests.
    const [first, second] = await runClaude(upstreams.gateway("anthropic").url, "say hi again", "say hi again")
    assert.equal(first!.code, 0, first!.stderr)
    assert.match(first!.stdout, /^Tool said: .*InputValidationError/)
    assert.equal(second!.code, 0, second!.stderr)
    assert.equal(second!.stdout, first!.stdout)
    assert.equal(upstreams.modelCalls() - before, 2, "the first run's two turns went upstream, the second run's none")
  })

  for (const [upstreamStatus, shown] of [[500, /API Error: 502 /], [429, /API Error: .*\(429\)/]] as const) {
    it(`gives up on an upstream ${upstreamStatus} after the gateway's ${GATEWAY_ATTEMPTS} attempts: x-should-retry stops Claude Code's own retries`, async (t) => {
      if (!installed(t, cliInstalled("claude"), "the claude CLI", ".ci/run installs it into .ci/clis")) return
      const providers = upstreams.providers()
      for (let i = 0; i < 10 * GATEWAY_ATTEMPTS; i++) {
        providers.queue.push({ kind: "error", status: upstreamStatus, message: `upstream says ${upstreamStatus}` })
      }
      const before = upstreams.modelCalls()
      try {
        const run = (await runClaude(upstreams.gateway("anthropic").url, "say hi"))[0]!
        assert.equal(run.code, 1)
        assert.match(run.stdout, shown)
        assert.equal(upstreams.modelCalls() - before, GATEWAY_ATTEMPTS)
      } finally {
        providers.queue.length = 0
      }
    })
  }
})
