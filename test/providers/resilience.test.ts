import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, beforeEach, describe, it } from "node:test"
import OpenAI from "openai"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { startTestGateway } from "../support/gateway.ts"

let fake: FakeProviders
before(async () => {
  fake = await startFakeProviders()
})
after(() => fake.close())
beforeEach(() => {
  fake.calls.length = 0
  fake.queue.length = 0
})

const openaiUpstream = (extra: Record<string, string> = {}) => ({
  ISARTOR__LLM_PROVIDER: "openai",
  ISARTOR__EXTERNAL_LLM_URL: `${fake.url}/v1`,
  ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey,
  ISARTOR__L3_RETRY_BASE_MS: "10",
  ...extra
})

const withGateway = async (env: Record<string, string>, run: (client: OpenAI) => Promise<void>) => {
  const gateway = await startTestGateway(env)
  try {
    await run(new OpenAI({ apiKey: "caller", baseURL: `${gateway.url}/v1`, maxRetries: 0 }))
  } finally {
    await gateway.close()
  }
}

const ask = (content: string) => ({ model: "gpt-4o-mini", messages: [{ role: "user" as const, content }] })

describe("retries", () => {
  it("retries 503 twice, then answers: one client request, three upstream calls", async () => {
    await withGateway(openaiUpstream(), async (client) => {
      fake.queue.push({ kind: "error", status: 503, message: "overloaded" }, {
        kind: "error",
        status: 503,
        message: "overloaded"
      })
      const answer = await client.chat.completions.create(ask("retry me"))
      assert.match(answer.choices[0]?.message.content ?? "", /Answer to: retry me/)
      assert.equal(fake.calls.length, 3)
    })
  })

  it("gives up after l3_max_retries and answers 502 naming the provider and reason", async () => {
    await withGateway(openaiUpstream({ ISARTOR__L3_MAX_RETRIES: "1" }), async (client) => {
      fake.queue.push({ kind: "error", status: 500, message: "boom" }, {
        kind: "error",
        status: 500,
        message: "boom again"
      })
      const error = await client.chat.completions.create(ask("always failing")).catch((e: unknown) => e)
      assert.ok(error instanceof OpenAI.APIError)
      assert.equal(error.status, 502)
      assert.match(error.message, /provider openai: boom again/)
      assert.equal(fake.calls.length, 2)
    })
  })

  it("waits as long as Retry-After asks before retrying a 429", async () => {
    await withGateway(openaiUpstream(), async (client) => {
      fake.queue.push({ kind: "error", status: 429, message: "slow down", headers: { "retry-after-ms": "400" } })
      await client.chat.completions.create(ask("rate limited once"))
      assert.equal(fake.calls.length, 2)
      assert.ok(
        fake.calls[1]!.at - fake.calls[0]!.at >= 390,
        "the retry came after the Retry-After wait, not the 10 ms backoff"
      )
    })
  })

  it("never retries 400, 401, 403 or 404", async () => {
    await withGateway(openaiUpstream(), async (client) => {
      for (const status of [400, 401, 403, 404]) {
        fake.calls.length = 0
        fake.queue.push({ kind: "error", status, message: `status ${status}` })
        const error = await client.chat.completions.create(ask(`no retry ${status}`)).catch((e: unknown) => e)
        assert.ok(error instanceof OpenAI.APIError)
        assert.equal(fake.calls.length, 1, `${status} was not retried`)
      }
    })
  })
})

describe("retries that do not multiply", () => {
  // Each SDK with its default retries (2): before, 3 client attempts × 3 gateway attempts = 9 upstream calls.
  const failing = { kind: "error" as const, status: 500, message: "broken" }
  // Each SDK on a gateway of its own: one gateway's retry budget (3 retries in 10 s at this traffic) would leave the
  // second SDK's request fewer retries.
  const sdkDefaults = async (gatewayUrl: string, anthropicGatewayUrl = gatewayUrl) => {
    const openai = await new OpenAI({ apiKey: "caller", baseURL: `${gatewayUrl}/v1` }).chat.completions
      .create(ask("always failing")).catch((e: unknown) => e)
    assert.ok(openai instanceof OpenAI.APIError)
    const openaiCalls = fake.calls.length
    fake.calls.length = 0
    const anthropic = await new Anthropic({ apiKey: "caller", baseURL: anthropicGatewayUrl }).messages
      .create({ model: "gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "always failing" }] })
      .catch((e: unknown) => e)
    assert.ok(anthropic instanceof Anthropic.APIError)
    return { openaiCalls, anthropicCalls: fake.calls.length, headers: openai.headers }
  }

  it("a failure the gateway already retried says x-should-retry: false: each SDK makes one request, three upstream calls", async () => {
    const gateway = await startTestGateway(openaiUpstream())
    const anthropicGateway = await startTestGateway(openaiUpstream())
    try {
      fake.queue.push(...Array.from({ length: 20 }, () => failing))
      const { openaiCalls, anthropicCalls, headers } = await sdkDefaults(gateway.url, anthropicGateway.url)
      assert.equal(headers?.get("x-should-retry"), "false")
      assert.equal(openaiCalls, 3)
      assert.equal(anthropicCalls, 3)
    } finally {
      await gateway.close()
      await anthropicGateway.close()
    }
  })

  it("a retryable failure the gateway did not retry says x-should-retry: true, and the SDK retries it", async () => {
    const gateway = await startTestGateway(openaiUpstream({ ISARTOR__L3_MAX_RETRIES: "0" }))
    try {
      fake.queue.push(...Array.from({ length: 20 }, () => failing))
      const { openaiCalls, headers } = await sdkDefaults(gateway.url)
      assert.equal(headers?.get("x-should-retry"), "true")
      assert.equal(openaiCalls, 3, "the SDK's own three attempts, one upstream call each")
    } finally {
      await gateway.close()
    }
  })
})

describe("fallback providers", () => {
  const withFallback = (extra: Record<string, string> = {}) =>
    openaiUpstream({
      ISARTOR__L3_MAX_RETRIES: "1",
      ISARTOR__FALLBACK_PROVIDERS: "anthropic",
      ISARTOR__PROVIDERS__ANTHROPIC__URL: fake.url,
      ISARTOR__PROVIDERS__ANTHROPIC__API_KEY: fake.apiKey,
      ISARTOR__PROVIDERS__ANTHROPIC__MODEL: "claude-fallback",
      ...extra
    })

  it("reaches the fallback when the primary keeps failing, and says which provider answered", async () => {
    await withGateway(withFallback(), async (client) => {
      fake.queue.push({ kind: "error", status: 503, message: "down" }, {
        kind: "error",
        status: 503,
        message: "still down"
      })
      const { data, response } = await client.chat.completions.create(ask("fall back please")).withResponse()
      assert.match(data.choices[0]?.message.content ?? "", /Answer to: fall back please/)
      assert.equal(response.headers.get("x-isartor-provider"), "anthropic")
      assert.deepEqual(fake.calls.map((call) => call.format), ["openai", "openai", "anthropic"])
      assert.equal(fake.calls[2]!.body.model, "claude-fallback", "the fallback is asked for its own model")
    })
  })

  it("does not fall back on the client's own mistake (400)", async () => {
    await withGateway(withFallback(), async (client) => {
      fake.queue.push({ kind: "error", status: 400, message: "bad parameter" })
      const error = await client.chat.completions.create(ask("my mistake")).catch((e: unknown) => e)
      assert.ok(error instanceof OpenAI.BadRequestError)
      assert.deepEqual(fake.calls.map((call) => call.format), ["openai"])
    })
  })

  it("answers 429 when every provider is rate-limited, 502 when they fail otherwise", async () => {
    await withGateway(withFallback({ ISARTOR__L3_MAX_RETRIES: "0" }), async (client) => {
      fake.queue.push(
        { kind: "error", status: 429, message: "primary limited", headers: { "retry-after": "2" } },
        { kind: "error", status: 429, message: "fallback limited", headers: { "retry-after": "5" } }
      )
      const limited = await client.chat.completions.create(ask("everyone busy")).catch((e: unknown) => e)
      assert.ok(limited instanceof OpenAI.RateLimitError)
      assert.equal(limited.headers?.get("retry-after"), "2")
      assert.match(
        limited.message,
        /openai \(RateLimited: primary limited\).*anthropic \(RateLimited: fallback limited\)/
      )

      fake.queue.push({ kind: "error", status: 429, message: "limited" }, {
        kind: "error",
        status: 500,
        message: "broken"
      })
      const mixed = await client.chat.completions.create(ask("mixed failures")).catch((e: unknown) => e)
      assert.ok(mixed instanceof OpenAI.APIError)
      assert.equal(mixed.status, 502)
    })
  })
  it("skips a fallback without a key, naming its own key variable, and keeps the primary's 429", async () => {
    const env = withFallback({ ISARTOR__PROVIDERS__ANTHROPIC__API_KEY: "", ISARTOR__L3_MAX_RETRIES: "0" })
    const gateway = await startTestGateway(env)
    try {
      assert.ok(
        gateway.warnings.some((line) =>
          line.includes("no API key for fallback provider anthropic: set ISARTOR__PROVIDERS__ANTHROPIC__API_KEY")
        ),
        gateway.warnings.join("\n")
      )
      fake.queue.push({ kind: "error", status: 429, message: "slow down", headers: { "retry-after": "3" } })
      const client = new OpenAI({ apiKey: "caller", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const error = await client.chat.completions.create(ask("no fallback key")).catch((e: unknown) => e)
      assert.ok(error instanceof OpenAI.RateLimitError, String(error))
      assert.equal(error.headers?.get("retry-after"), "3")
      assert.doesNotMatch(error.message, /EXTERNAL_LLM_API_KEY|NotConfigured/)
      assert.deepEqual(fake.calls.map((call) => call.format), ["openai"], "the keyless fallback was not called")
    } finally {
      await gateway.close()
    }
  })
})

describe("streams that fail", () => {
  it("ends a stream that breaks mid-way with an error event and never caches it (anthropic upstream)", async () => {
    const env = {
      ISARTOR__LLM_PROVIDER: "anthropic",
      ISARTOR__EXTERNAL_LLM_URL: fake.url,
      ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey
    }
    await withGateway(env, async (client) => {
      fake.queue.push({ kind: "break-stream" })
      const stream = await client.chat.completions.create({ ...ask("break this stream"), stream: true })
      let text = ""
      const error = await (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
      })().catch((e: unknown) => e)
      assert.ok(error instanceof Error)
      assert.ok(text.length > 0)
      const retry = await client.chat.completions.create(ask("break this stream")).withResponse()
      assert.equal(retry.response.headers.get("x-isartor-layer"), "l3")
    })
  })
})

describe("start-up checks", () => {
  it("rejects an unknown fallback provider and a malformed Azure setting", async () => {
    await assert.rejects(
      startTestGateway(openaiUpstream({ ISARTOR__FALLBACK_PROVIDERS: "antropic" })),
      /ISARTOR__FALLBACK_PROVIDERS: "antropic" is not a provider/
    )
    await assert.rejects(
      startTestGateway({
        ISARTOR__LLM_PROVIDER: "azure",
        ISARTOR__EXTERNAL_LLM_URL: fake.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey
      }),
      /ISARTOR__AZURE_DEPLOYMENT_ID: required for azure/
    )
    await assert.rejects(
      startTestGateway({
        ISARTOR__LLM_PROVIDER: "azure",
        ISARTOR__AZURE_API_VERSION: "latest",
        ISARTOR__AZURE_DEPLOYMENT_ID: "d"
      }),
      /ISARTOR__AZURE_API_VERSION = "latest": expected YYYY-MM-DD or YYYY-MM-DD-preview/
    )
  })

  it("starts without an Ollama key, and warns once when a keyed provider has none", async () => {
    const keyless = await startTestGateway({
      ISARTOR__LLM_PROVIDER: "ollama",
      ISARTOR__EXTERNAL_LLM_URL: `${fake.url}/ollama`
    })
    assert.deepEqual(keyless.warnings, [])
    await keyless.close()
    const missing = await startTestGateway({ ISARTOR__LLM_PROVIDER: "gemini" })
    assert.equal(missing.warnings.length, 1)
    assert.match(missing.warnings[0]!, /no API key for provider gemini/)
    await missing.close()
  })
})

describe("answers that are not chat completions", () => {
  it("a 200 without an id or a message is a 502 on every endpoint, and never cached", async () => {
    let calls = 0
    const upstream = createServer((_req, res) => {
      calls++
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ object: "chat.completion", choices: [{ index: 0, finish_reason: "stop" }] }))
    })
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`
    const gateway = await startTestGateway({
      ISARTOR__EXTERNAL_LLM_URL: url,
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-test-0123456789",
      ISARTOR__L3_MAX_RETRIES: "0"
    })
    try {
      const native = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt: "hi" }) })
      assert.equal(native.status, 502)
      assert.match(((await native.json()) as { error: { message: string } }).error.message, /not a chat completion/)
      const messages = await fetch(`${gateway.url}/v1/messages`, {
        method: "POST",
        body: JSON.stringify({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }] })
      })
      assert.equal(messages.status, 502)
      assert.equal(((await messages.json()) as { type: string }).type, "error")
      const again = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt: "hi" }) })
      assert.equal(again.status, 502)
      assert.equal(calls, 3, "nothing was cached")
    } finally {
      await gateway.close()
      upstream.closeAllConnections()
      await new Promise((resolve) => upstream.close(resolve))
    }
  })
})
