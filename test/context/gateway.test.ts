import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { optimiseBody } from "../../core/context/ContextOptimizer.ts"
import { estimateTokens, tokenizer } from "../../core/domain/usageEstimate.ts"
import { fromResponsesRequest } from "../../core/formats/responses/request.ts"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway } from "../support/gateway.ts"
import { claudeCodeSession, codexSession } from "./sessions.ts"

// L2.5 through the gateway: the provider receives the shrunk body and the answer says how much it kept; turned off,
// the provider receives the client's bytes.

// The gateway's own estimator, its tokenizer loaded: what the header's figure is counted with.
await tokenizer()
const count = estimateTokens

let upstream: FakeProviders
const gateways: Record<string, RunningGateway> = {}
const start = (provider: string, optimiser: boolean) =>
  startTestGateway({
    ISARTOR__LLM_PROVIDER: provider,
    ISARTOR__EXTERNAL_LLM_URL: provider === "openai" ? `${upstream.url}/v1` : upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: upstream.apiKey,
    ISARTOR__CACHE_MODE: "exact",
    ISARTOR__CONTEXT_OPTIMIZER: String(optimiser)
  })
before(async () => {
  upstream = await startFakeProviders()
  gateways.anthropicOn = await start("anthropic", true)
  gateways.anthropicOff = await start("anthropic", false)
  gateways.openaiOn = await start("openai", true)
})
after(async () => {
  for (const gateway of Object.values(gateways)) await gateway.close()
  await upstream.close()
})

const post = async (gateway: RunningGateway, path: string, body: unknown) => {
  const text = JSON.stringify(body)
  const before = upstream.calls.length
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "caller" },
    body: text
  })
  const answer = await response.text()
  assert.equal(response.status, 200, answer)
  assert.equal(upstream.calls.length, before + 1)
  return { response, sent: text, received: upstream.calls.at(-1)! }
}

describe("the context optimiser in the L3 request path", () => {
  // A Claude Code session whose breakpoints stay on its fixed prefix: the reminders of later turns repeat after them.
  const session = claudeCodeSession(6, "recorded")
  const expected = optimiseBody("anthropic", session[5]!, count)

  it("on: the Anthropic upstream receives the shrunk body, and the answer says how many tokens it kept", async () => {
    const { received, response } = await post(gateways.anthropicOn!, "/v1/messages", session[5])
    assert.ok(expected.saved > 0)
    assert.deepEqual(received.body, expected.body)
    assert.equal(response.headers.get("x-isartor-context-saved"), `tokens=${expected.saved}`)
    assert.match(received.raw, /Unchanged: the same text as the earlier <system-reminder> block/)
    // What Anthropic's prompt cache keys on — tools, system, the turns up to the last breakpoint — arrives as sent.
    const sent = session[5]!
    const marked = (sent.messages as Array<unknown>).findLastIndex((message) =>
      JSON.stringify(message).includes("cache_control")
    )
    assert.ok(marked >= 0)
    assert.deepEqual(received.body.tools, sent.tools)
    assert.deepEqual(received.body.system, sent.system)
    assert.deepEqual(
      (received.body.messages as Array<unknown>).slice(0, marked + 1),
      (sent.messages as Array<unknown>).slice(0, marked + 1)
    )
  })

  it("off: the Anthropic upstream receives the client's bytes, and no header", async () => {
    const { received, response, sent } = await post(gateways.anthropicOff!, "/v1/messages", session[5])
    assert.equal(received.raw, sent)
    assert.equal(response.headers.get("x-isartor-context-saved"), null)
  })

  it("on, with nothing to shrink (Claude Code marks its last turn): the client's bytes, no header", async () => {
    const { received, response, sent } = await post(gateways.anthropicOn!, "/v1/messages", claudeCodeSession(4)[3])
    assert.equal(received.raw, sent)
    assert.equal(response.headers.get("x-isartor-context-saved"), null)
  })

  it("on, Chat Completions to an OpenAI upstream: the repeats are references, the cache sees the request as asked", async () => {
    const chat = { ...fromResponsesRequest(codexSession(4)[3]!, []).body, model: "gpt-4o-mini", stream: false }
    const shrunk = optimiseBody("openai", chat, count)
    const first = await post(gateways.openaiOn!, "/v1/chat/completions", chat)
    assert.equal(first.response.headers.get("x-isartor-context-saved"), `tokens=${shrunk.saved}`)
    assert.deepEqual(first.received.body.messages, shrunk.body.messages)
    // The same request again is an exact hit: the cache key is the client's request, not the shrunk one.
    const again = await fetch(`${gateways.openaiOn!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "caller" },
      body: JSON.stringify(chat)
    })
    await again.text()
    assert.equal(again.headers.get("x-isartor-layer"), "l1a")
  })

  it("on, Codex's Responses request passed through to an OpenAI upstream: the shrunk Responses body", async () => {
    const body = codexSession(4)[3]!
    const shrunk = optimiseBody("responses", body, count)
    const { received, response } = await post(gateways.openaiOn!, "/v1/responses", body)
    assert.equal(received.path, "/v1/responses")
    assert.deepEqual(received.body, shrunk.body)
    assert.equal(response.headers.get("x-isartor-context-saved"), `tokens=${shrunk.saved}`)
  })

  it("counts the tokens kept in /metrics", async () => {
    const kept = async () => {
      const metrics = await (await fetch(`${gateways.anthropicOn!.url}/metrics`)).text()
      const line = metrics.split("\n").find((row) => row.startsWith("isartor_context_tokens_saved_total"))
      return line === undefined ? 0 : Number(line.split(" ").at(-1))
    }
    const before = await kept()
    // Its own request (another max_tokens: not the earlier tests' cached answer), so the count is this one's.
    const body = { ...session[5]!, max_tokens: 777 }
    const shrunk = optimiseBody("anthropic", body, count)
    await post(gateways.anthropicOn!, "/v1/messages", body)
    assert.ok(shrunk.saved > 0)
    assert.equal(await kept(), before + shrunk.saved)
  })
})
