import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway, TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { aiSdkAnthropic, aiSdkOpenAIChat, aiSdkOpenAIResponses } from "./clients/aiSdk.ts"
import { anthropicMessages } from "./clients/anthropic.ts"
import { langchainChatOpenAI, langchainResponses } from "./clients/langchain.ts"
import { openaiChat, openaiResponses } from "./clients/openai.ts"
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
