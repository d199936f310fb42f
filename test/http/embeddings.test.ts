import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { fakeUpstreamGateways } from "../support/gateway.ts"

// `POST /v1/embeddings` through the gateway with the openai SDK: forwarded to the provider, exact-cached.

const running = fakeUpstreamGateways({
  openai: { env: { ISARTOR__L3_MAX_RETRIES: "0" } },
  azure: (fake) => ({
    env: {
      ISARTOR__L3_MAX_RETRIES: "0",
      ISARTOR__LLM_PROVIDER: "azure",
      ISARTOR__EXTERNAL_LLM_URL: fake.url,
      ISARTOR__AZURE_DEPLOYMENT_ID: "embedder"
    }
  }),
  anthropic: (fake) => ({
    env: { ISARTOR__L3_MAX_RETRIES: "0", ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__EXTERNAL_LLM_URL: fake.url }
  })
}, { kind: "providers" })
const { gateways } = running

const client = (gateway: keyof typeof gateways, apiKey = "caller-key-1") =>
  new OpenAI({ apiKey, baseURL: `${gateways[gateway].url}/v1`, maxRetries: 0 })

describe("/v1/embeddings", () => {
  it("forwards a miss to the provider, then answers the identical request from L1a", async () => {
    const request = { model: "text-embedding-3-small", input: ["first text", "second text"] }
    const first = await client("openai").embeddings.create(request).withResponse()
    assert.equal(first.response.headers.get("x-isartor-layer"), "l3")
    assert.equal(first.data.data.length, 2)
    assert.equal(first.data.data[1]!.embedding.length, 4)
    assert.equal(running.upstream.calls[0]!.path, "/v1/embeddings")
    assert.equal(running.upstream.calls[0]!.headers.authorization, `Bearer ${running.upstream.apiKey}`)
    assert.deepEqual(running.upstream.calls[0]!.body.input, request.input)

    const second = await client("openai").embeddings.create(request).withResponse()
    assert.equal(second.response.headers.get("x-isartor-layer"), "l1a")
    assert.match(second.response.headers.get("x-isartor-cache-key") ?? "", /^l1a_/)
    assert.equal(second.response.headers.get("x-isartor-cache-key"), first.response.headers.get("x-isartor-cache-key"))
    assert.deepEqual(second.data, first.data)
    assert.equal(running.upstream.calls.length, 1)

    // Another caller's cache is its own.
    const other = await client("openai", "caller-key-2").embeddings.create(request).withResponse()
    assert.equal(other.response.headers.get("x-isartor-layer"), "l3")
    // Another model is another answer.
    await client("openai").embeddings.create({ ...request, model: "text-embedding-3-large" })
    assert.equal(running.upstream.calls.length, 3)
  })

  it("answers only-if-cached from L1a or with a 504, never from the provider", async () => {
    const onlyCached = new OpenAI({
      apiKey: "caller-key-1",
      baseURL: `${gateways.openai!.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { "cache-control": "only-if-cached" }
    })
    await assert.rejects(onlyCached.embeddings.create({ model: "text-embedding-3-small", input: "never seen" }), {
      status: 504
    })
    assert.equal(running.upstream.calls.length, 0)
  })

  it("uses the Azure deployment's embeddings path", async () => {
    const response = await client("azure").embeddings.create({ model: "text-embedding-3-small", input: "azure" })
    assert.equal(response.data.length, 1)
    assert.match(running.upstream.calls[0]!.path, /^\/openai\/deployments\/embedder\/embeddings\?api-version=/)
  })

  it("says plainly when the provider has no embeddings API", async () => {
    await assert.rejects(
      client("anthropic").embeddings.create({ model: "text-embedding-3-small", input: "x" }),
      (error: InstanceType<typeof OpenAI.APIError>) =>
        error.status === 400 && /anthropic has no embeddings API/.test(error.message)
    )
    assert.equal(running.upstream.calls.length, 0)
  })

  it("answers a body without model or with a malformed input with a 400 naming the field", async () => {
    const post = (body: unknown) =>
      fetch(`${gateways.openai!.url}/v1/embeddings`, { method: "POST", body: JSON.stringify(body) })
    const noModel = await post({ input: "x" })
    assert.equal(noModel.status, 400)
    assert.equal(((await noModel.json()) as { error: { param: string } }).error.param, "model")
    const badInput = await post({ model: "m", input: [{ text: "x" }] })
    assert.equal(badInput.status, 400)
    assert.match(((await badInput.json()) as { error: { message: string } }).error.message, /^input/)
    assert.equal(running.upstream.calls.length, 0)
  })

  it("passes an upstream failure on in OpenAI's error shape and caches nothing", async () => {
    running.upstream.queue.push({ kind: "error", status: 500, message: "boom" })
    const request = { model: "text-embedding-3-small", input: "fails once" }
    await assert.rejects(client("openai").embeddings.create(request), { status: 502 })
    const retried = await client("openai").embeddings.create(request).withResponse()
    assert.equal(retried.response.headers.get("x-isartor-layer"), "l3")
  })
})
