import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway, TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { aiSdkAnthropic, aiSdkOpenAIChat, aiSdkOpenAIResponses } from "./clients/aiSdk.ts"
import { anthropicMessages } from "./clients/anthropic.ts"
import { langchainChatOpenAI, langchainResponses } from "./clients/langchain.ts"
import { openaiChat, openaiResponses } from "./clients/openai.ts"
import { cliInstalled, runClaude, runCodex } from "./clis.ts"
import { makeTap } from "./driver.ts"
import { answerTo } from "./suite.ts"

// A gateway with gateway_api_key set: each client authenticates the way it always does (its SDK's own key header)
// with the gateway key as its API key, and a wrong key is the client's own 401 error, never an upstream call.
const GATEWAY_KEY = "gw-compat-key-0123456789"
let providers: FakeProviders
let gateway: RunningGateway
before(async () => {
  providers = await startFakeProviders(TEST_PROVIDER_KEY)
  gateway = await startTestGateway({
    ISARTOR__EXTERNAL_LLM_URL: `${providers.url}/v1`,
    ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
    ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY,
    ISARTOR__CACHE_MODE: "exact"
  })
})
after(async () => {
  await gateway.close()
  await providers.close()
})

const clients = [
  openaiChat,
  openaiResponses,
  anthropicMessages,
  langchainChatOpenAI,
  langchainResponses,
  aiSdkOpenAIChat,
  aiSdkOpenAIResponses,
  aiSdkAnthropic
]

describe("the gateway key, sent as each client's API key", () => {
  for (const client of clients) {
    it(`${client.name}: the right key is answered, a wrong one is the client's 401`, async () => {
      const question = `Who may ask? (${client.name})`
      const allowed = client.make({ url: gateway.url, apiKey: GATEWAY_KEY, tap: makeTap(), maxRetries: 0 })
      assert.equal((await allowed.ask(question)).text, answerTo(question))
      const denied = client.make({ url: gateway.url, apiKey: "not-the-gateway-key", tap: makeTap(), maxRetries: 0 })
      const calls = providers.calls.length
      denied.assertError(await denied.fail(question), 401, "")
      assert.equal(providers.calls.length, calls)
    })
  }
})

describe("the gateway key, given to each CLI as its API key", () => {
  it("claude -p is answered", async (t) => {
    if (!installed(t, cliInstalled("claude"), "the claude CLI", ".ci/run installs it into .ci/clis")) return
    const run = (await runClaude({ url: gateway.url, apiKey: GATEWAY_KEY }, "say hi"))[0]!
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^Tool said: /)
  })

  it("codex exec is answered; with another key it reports the 401 without an upstream call", async (t) => {
    if (!installed(t, cliInstalled("codex"), "the codex CLI", ".ci/run installs it into .ci/clis")) return
    const allowed = (await runCodex({ url: `${gateway.url}/v1`, apiKey: GATEWAY_KEY }, "say hi"))[0]!
    assert.equal(allowed.code, 0, allowed.stderr)
    assert.match(allowed.stdout, /^Tool said: /)
    const calls = providers.calls.length
    const denied = (await runCodex({ url: `${gateway.url}/v1`, apiKey: "sk-not-the-gateway-key" }, "say hi"))[0]!
    assert.equal(denied.code, 1)
    assert.match(denied.stderr, /401/)
    assert.equal(providers.calls.length, calls)
  })

  // Claude Code retries a 401 unless told not to: with a wrong key, `claude -p` kept retrying (6 requests in 25 s,
  // killed at 120 s); with x-should-retry: false added to the same 401 it printed "Failed to authenticate. API Error:
  // 401 invalid gateway API key" after one request, in 0.9 s (measured through a proxy that added the header).
  it("a wrong key's 401 tells clients not to retry (x-should-retry: false) on every API", async () => {
    for (const path of ["/v1/messages", "/v1/chat/completions", "/v1/responses"]) {
      const response = await fetch(`${gateway.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "not-the-gateway-key" },
        body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }], input: "hi" })
      })
      assert.equal(response.status, 401, path)
      assert.equal(response.headers.get("x-should-retry"), "false", path)
    }
  })
})
