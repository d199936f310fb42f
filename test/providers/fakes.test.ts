import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { ProviderId } from "../../core/providers/registry.ts"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { startTestGateway } from "../support/gateway.ts"

/**
 * The shared provider fake refuses what each real API refuses, in the API's own words: a request without the key
 * header the provider requires, or with a wrong key, gets the provider's own error — so a provider file that stops
 * sending its key, or sends it in the wrong header, fails every test that reaches the fake.
 */
const KEY = "fake-conformance-key-0123456789"
const WRONG = "wrong-key-abcdefghijklmnop"

let fake: FakeProviders
before(async () => {
  fake = await startFakeProviders(KEY)
})
after(() => fake.close())

const post = async (path: string, headers: Record<string, string>, body: unknown = {}) => {
  const response = await fetch(`${fake.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

const chat = { model: "m", messages: [{ role: "user", content: "hi" }] }
const anthropicChat = { model: "m", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }
const geminiChat = { contents: [{ role: "user", parts: [{ text: "hi" }] }] }
const AZURE_PATH = "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
const GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"

const openAIMissingKey = {
  error: {
    message: "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
      "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're " +
      "accessing the API from your browser and are prompted for a username and password. You can obtain an API key " +
      "from https://platform.openai.com/account/api-keys.",
    type: "invalid_request_error",
    param: null,
    code: null
  }
}
const azureDenied = {
  error: {
    code: "401",
    message: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key " +
      "for an active subscription and use a correct regional API endpoint for your resource."
  }
}
const anthropicError = (type: string, message: string) => ({
  type: "error",
  error: { type, message },
  request_id: "req_fake0123456789"
})
const geminiUnregistered = {
  error: {
    code: 403,
    message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key " +
      "or other form of API consumer identity to call this API.",
    status: "PERMISSION_DENIED"
  }
}

describe("the provider fakes refuse a request without the provider's key, as the provider does", () => {
  it("OpenAI (and xAI, OpenAI-compatible): no Authorization is a 401 invalid_request_error; a wrong key is invalid_api_key", async () => {
    assert.deepEqual(await post("/v1/chat/completions", {}, chat), { status: 401, body: openAIMissingKey })
    for (const path of ["/v1/embeddings", "/v1/responses"]) {
      assert.deepEqual(await post(path, {}, { model: "m", input: "hi" }), { status: 401, body: openAIMissingKey })
    }
    // The key in another provider's header is no key at all.
    assert.equal((await post("/v1/chat/completions", { "x-api-key": KEY, "api-key": KEY }, chat)).status, 401)
    const wrong = await post("/v1/chat/completions", { authorization: `Bearer ${WRONG}` }, chat)
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.error.type, "invalid_request_error")
    assert.equal(wrong.body.error.code, "invalid_api_key")
    assert.match(wrong.body.error.message, /^Incorrect API key provided: wron\*+mnop\./)
    assert.equal((await post("/v1/chat/completions", { authorization: `Bearer ${KEY}` }, chat)).status, 200)
  })

  it("Azure OpenAI: no api-key (or the key as a Bearer token) is its 401 {code, message}", async () => {
    assert.deepEqual(await post(AZURE_PATH, {}, chat), { status: 401, body: azureDenied })
    assert.deepEqual(await post(AZURE_PATH, { authorization: `Bearer ${KEY}` }, chat), {
      status: 401,
      body: azureDenied
    })
    assert.deepEqual(await post(AZURE_PATH, { "api-key": WRONG }, chat), { status: 401, body: azureDenied })
    assert.deepEqual(await post("/openai/v1/responses", {}, { model: "m", input: "hi" }), {
      status: 401,
      body: azureDenied
    })
    assert.equal((await post(AZURE_PATH, { "api-key": KEY }, chat)).status, 200)
  })

  it("Anthropic: no x-api-key is a 401 authentication_error; no anthropic-version a 400 invalid_request_error", async () => {
    const version = { "anthropic-version": "2023-06-01" }
    assert.deepEqual(await post("/v1/messages", version, anthropicChat), {
      status: 401,
      body: anthropicError("authentication_error", "x-api-key header is required")
    })
    assert.deepEqual(await post("/v1/messages", { ...version, authorization: `Bearer ${KEY}` }, anthropicChat), {
      status: 401,
      body: anthropicError("authentication_error", "x-api-key header is required")
    })
    assert.deepEqual(await post("/v1/messages/count_tokens", version, anthropicChat), {
      status: 401,
      body: anthropicError("authentication_error", "x-api-key header is required")
    })
    assert.deepEqual(await post("/v1/messages", { ...version, "x-api-key": WRONG }, anthropicChat), {
      status: 401,
      body: anthropicError("authentication_error", "invalid x-api-key")
    })
    assert.deepEqual(await post("/v1/messages", { "x-api-key": KEY }, anthropicChat), {
      status: 400,
      body: anthropicError("invalid_request_error", "anthropic-version: header is required")
    })
    assert.equal((await post("/v1/messages", { ...version, "x-api-key": KEY }, anthropicChat)).status, 200)
  })

  it("Gemini: no key is a 403 PERMISSION_DENIED; a wrong one a 400 INVALID_ARGUMENT with reason API_KEY_INVALID", async () => {
    assert.deepEqual(await post(GEMINI_PATH, {}, geminiChat), { status: 403, body: geminiUnregistered })
    assert.deepEqual(await post(GEMINI_PATH, { authorization: `Bearer ${KEY}` }, geminiChat), {
      status: 403,
      body: geminiUnregistered
    })
    const stream = await post(GEMINI_PATH.replace(":generateContent", ":streamGenerateContent?alt=sse"), {}, geminiChat)
    assert.deepEqual(stream, { status: 403, body: geminiUnregistered })
    const wrong = await post(GEMINI_PATH, { "x-goog-api-key": WRONG }, geminiChat)
    assert.equal(wrong.status, 400)
    assert.equal(wrong.body.error.status, "INVALID_ARGUMENT")
    assert.equal(wrong.body.error.message, "API key not valid. Please pass a valid API key.")
    assert.equal(wrong.body.error.details[0].reason, "API_KEY_INVALID")
    assert.equal((await post(GEMINI_PATH, { "x-goog-api-key": KEY }, geminiChat)).status, 200)
    assert.equal((await post(`${GEMINI_PATH}?key=${KEY}`, {}, geminiChat)).status, 200, "the key as a query parameter")
  })

  it("Ollama takes no key", async () => {
    assert.equal((await post("/ollama/v1/chat/completions", {}, chat)).status, 200)
  })

  it("no refused request reaches the fake's record of calls", () => {
    const keyless = fake.calls.filter((call) => !JSON.stringify([call.path, call.headers]).includes(KEY))
    assert.deepEqual(keyless.map((call) => call.format), ["ollama"])
  })
})

describe("the provider fakes' errors are each provider's own, status by status", () => {
  const cases: ReadonlyArray<readonly [string, Record<string, string>, unknown, (status: number) => unknown]> = [
    ["/v1/chat/completions", { authorization: `Bearer ${KEY}` }, chat, (status) => ({
      error: {
        message: "no",
        type: ({ 400: "invalid_request_error", 429: "requests", 500: "server_error", 503: "server_error" } as any)[
          status
        ],
        param: null,
        code: status === 429 ? "rate_limit_exceeded" : null
      }
    })],
    ["/v1/messages", { "x-api-key": KEY, "anthropic-version": "2023-06-01" }, anthropicChat, (status) =>
      anthropicError(
        ({ 400: "invalid_request_error", 429: "rate_limit_error", 500: "api_error", 503: "api_error" } as any)[status],
        "no"
      )],
    [GEMINI_PATH, { "x-goog-api-key": KEY }, geminiChat, (status) => ({
      error: {
        code: status,
        message: "no",
        status: ({ 400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE" } as any)[
          status
        ]
      }
    })]
  ]
  for (const [path, headers, body, expected] of cases) {
    it(`${path}: 400, 429, 500 and 503`, async () => {
      for (const status of [400, 429, 500, 503]) {
        fake.queue.push({ kind: "error", status, message: "no" })
        assert.deepEqual(await post(path, headers, body), { status, body: expected(status) }, `${path} ${status}`)
      }
    })
  }

  it("Anthropic's 529 is overloaded_error; Azure's 429 is its {code, message}", async () => {
    fake.queue.push({ kind: "error", status: 529, message: "Overloaded" })
    const overloaded = await post(
      "/v1/messages",
      { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
      anthropicChat
    )
    assert.deepEqual(overloaded, { status: 529, body: anthropicError("overloaded_error", "Overloaded") })
    fake.queue.push({ kind: "error", status: 429, message: "limited" })
    assert.deepEqual(await post(AZURE_PATH, { "api-key": KEY }, chat), {
      status: 429,
      body: { error: { code: "429", message: "limited" } }
    })
  })
})

/** Every keyed provider's URL on the fake, as `ISARTOR__EXTERNAL_LLM_URL`. */
const keyed = {
  openai: { url: (base) => `${base}/v1` },
  azure: { url: (base) => base, env: { ISARTOR__AZURE_DEPLOYMENT_ID: "gpt-4o-prod" } },
  anthropic: { url: (base) => base },
  xai: { url: (base) => `${base}/v1` },
  gemini: { url: (base) => base },
  "openai-compatible": { url: (base) => `${base}/v1/chat/completions` }
} satisfies Partial<
  Record<ProviderId, { readonly url: (base: string) => string; readonly env?: Record<string, string> }>
>

describe("a gateway whose provider key the provider refuses says so", () => {
  for (const [id, target] of Object.entries(keyed)) {
    it(`${id}: a wrong key is reported as Unauthorized, not as the caller's bad request`, async () => {
      const gateway = await startTestGateway({
        ISARTOR__LLM_PROVIDER: id,
        ISARTOR__EXTERNAL_LLM_URL: target.url(fake.url),
        ISARTOR__EXTERNAL_LLM_API_KEY: WRONG,
        ISARTOR__L3_MAX_RETRIES: "0",
        ...("env" in target ? target.env : {})
      })
      try {
        const response = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: `refused ${id}` }] })
        })
        const error = ((await response.json()) as { error: Record<string, unknown> }).error
        assert.equal(error.code, "Unauthorized", JSON.stringify(error))
        assert.equal(response.status, 502)
        assert.doesNotMatch(JSON.stringify(error), new RegExp(WRONG), "the key is not echoed")
      } finally {
        await gateway.close()
      }
    })
  }
})
