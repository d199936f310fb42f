import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { errorBody } from "../../support/fakeErrors.ts"
import { type RunningGateway, startTestGateway } from "../../support/gateway.ts"

// `/v1/messages/count_tokens` with an Anthropic upstream that cannot count now: the estimate, said so. The shared
// fake always counts; this one answers count_tokens with the status a test sets, in Anthropic's error shape.

let status = 200
const upstream = createServer((req, res) => {
  req.resume()
  req.on("end", () => {
    res.writeHead(status, { "content-type": "application/json" })
    res.end(JSON.stringify(status === 200 ? { input_tokens: 42 } : errorBody("anthropic", status, "cannot count")))
  })
})
let gateway: RunningGateway
before(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve))
  gateway = await startTestGateway({
    ISARTOR__LLM_PROVIDER: "anthropic",
    ISARTOR__EXTERNAL_LLM_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    ISARTOR__EXTERNAL_LLM_API_KEY: "sk-ant-test",
    ISARTOR__L3_RETRY_BASE_MS: "1"
  })
})
after(async () => {
  await gateway.close()
  await new Promise((resolve) => upstream.close(resolve))
})

const count = () =>
  new Anthropic({ apiKey: "caller", baseURL: gateway.url, maxRetries: 0 }).messages.countTokens({
    model: "claude-sonnet-4-5",
    system: "You are terse.",
    messages: [{ role: "user", content: "How many tokens is this question?" }]
  }).withResponse()

describe("count_tokens when the Anthropic upstream cannot count", () => {
  it("an upstream without the endpoint (404): the estimate, marked as one", async () => {
    status = 404
    const { data, response } = await count()
    assert.equal(response.headers.get("x-isartor-token-count"), "estimate")
    assert.ok(data.input_tokens > 10 && data.input_tokens < 40, `${data.input_tokens}`)
  })

  it("an upstream that keeps failing (503): the estimate", async () => {
    status = 503
    const { response } = await count()
    assert.equal(response.headers.get("x-isartor-token-count"), "estimate")
  })

  it("an upstream that refuses the body (400): the client's error, as it was", async () => {
    status = 400
    await assert.rejects(count(), (error: unknown) => error instanceof Anthropic.BadRequestError)
  })

  it("an upstream that counts: its count", async () => {
    status = 200
    const { data, response } = await count()
    assert.equal(response.headers.get("x-isartor-token-count"), "provider")
    assert.equal(data.input_tokens, 42)
  })
})
