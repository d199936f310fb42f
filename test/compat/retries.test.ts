import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { aiSdkOpenAIChat } from "./clients/aiSdk.ts"
import { anthropicMessages } from "./clients/anthropic.ts"
import { langchainChatOpenAI } from "./clients/langchain.ts"
import { openaiChat } from "./clients/openai.ts"
import { type DriverFactory, makeTap } from "./driver.ts"
import { compatUpstreams, GATEWAY_ATTEMPTS } from "./suite.ts"

// Upstream calls one failing prompt costs with each client at its default retries. The gateway retries twice and
// answers x-should-retry: false, which the openai and Anthropic SDKs obey. The AI SDK does not read the header: its
// own 2 retries multiply the gateway's attempts (on a 502 too, after 2 s and 4 s; here the upstream's Retry-After: 0,
// passed on, keeps it quick). LangChain does not retry a 429 without Retry-After; a 502 it retries 6 times over
// ≈ 1.5 min (21 upstream calls, measured), too slow for this suite.
const upstreams = compatUpstreams()

const table: ReadonlyArray<{
  client: DriverFactory
  upstreamStatus: number
  clientStatus: number
  calls: number
  headers?: Record<string, string>
}> = [
  { client: openaiChat, upstreamStatus: 429, clientStatus: 429, calls: GATEWAY_ATTEMPTS },
  { client: openaiChat, upstreamStatus: 500, clientStatus: 502, calls: GATEWAY_ATTEMPTS },
  { client: anthropicMessages, upstreamStatus: 429, clientStatus: 429, calls: GATEWAY_ATTEMPTS },
  { client: anthropicMessages, upstreamStatus: 500, clientStatus: 502, calls: GATEWAY_ATTEMPTS },
  { client: langchainChatOpenAI, upstreamStatus: 429, clientStatus: 429, calls: GATEWAY_ATTEMPTS },
  {
    client: aiSdkOpenAIChat,
    upstreamStatus: 429,
    clientStatus: 429,
    calls: 3 * GATEWAY_ATTEMPTS,
    headers: { "retry-after": "0" }
  }
]

describe("upstream calls per failing prompt, each client at its default retries", () => {
  for (const { client, upstreamStatus, clientStatus, calls, headers } of table) {
    it(`${client.name}: an upstream ${upstreamStatus} costs ${calls} upstream calls`, async () => {
      const providers = upstreams.providers()
      for (let i = 0; i < 4 * GATEWAY_ATTEMPTS; i++) {
        providers.queue.push({
          kind: "error",
          status: upstreamStatus,
          message: `upstream says ${upstreamStatus}`,
          ...(headers ? { headers } : {})
        })
      }
      const driver = client.make({
        url: upstreams.gateway("openai").url,
        apiKey: `retries-${client.name}`,
        tap: makeTap()
      })
      const before = upstreams.modelCalls()
      try {
        driver.assertError(
          await driver.fail(`fail with ${upstreamStatus}`),
          clientStatus,
          `upstream says ${upstreamStatus}`
        )
        assert.equal(upstreams.modelCalls() - before, calls)
      } finally {
        providers.queue.length = 0
      }
    })
  }
})
