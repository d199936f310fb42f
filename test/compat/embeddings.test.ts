import { createOpenAI } from "@ai-sdk/openai"
import { OpenAIEmbeddings } from "@langchain/openai"
import { embedMany } from "ai"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { makeTap, type Tap } from "./driver.ts"
import { compatUpstreams } from "./suite.ts"

// An application that points its whole OpenAI client at the gateway embeds through it too: the openai SDK, LangChain's
// OpenAIEmbeddings and the AI SDK's embedMany, each getting the upstream's vectors, then the same from L1a.
const upstreams = compatUpstreams()
const model = "text-embedding-3-small"

/** The fake upstream's deterministic vector for `text` (see embeddingsJson in fakeProviders.ts), as float32. */
const expected = (text: string) => {
  const sum = (step: number) => [...text].reduce((total, char, at) => total + (at % step) * char.charCodeAt(0), 0)
  return [...new Float32Array([text.length, sum(2), sum(3), sum(5)].map((value) => value / 1000))]
}
const asFloat32 = (vector: ReadonlyArray<number>) => [...new Float32Array(vector)]

const clients: ReadonlyArray<{
  readonly name: string
  readonly embed: (url: string, apiKey: string, tap: Tap, texts: Array<string>) => Promise<Array<Array<number>>>
}> = [
  {
    name: "openai SDK embeddings.create",
    embed: async (url, apiKey, tap, texts) => {
      const client = new OpenAI({ apiKey, baseURL: `${url}/v1`, fetch: tap.fetch, maxRetries: 0 })
      const result = await client.embeddings.create({ model, input: texts })
      return result.data.map((item) => item.embedding)
    }
  },
  {
    name: "LangChain OpenAIEmbeddings",
    embed: (url, apiKey, tap, texts) =>
      new OpenAIEmbeddings({ model, apiKey, maxRetries: 0, configuration: { baseURL: `${url}/v1`, fetch: tap.fetch } })
        .embedDocuments(texts)
  },
  {
    name: "AI SDK embedMany(openai.embedding())",
    embed: async (url, apiKey, tap, texts) => {
      const openai = createOpenAI({ apiKey, baseURL: `${url}/v1`, fetch: tap.fetch })
      return (await embedMany({ model: openai.embedding(model), values: texts, maxRetries: 0 })).embeddings
    }
  }
]

describe("embeddings through the gateway (OpenAI-format upstream)", () => {
  for (const client of clients) {
    it(`${client.name}: the upstream's vectors, then the same from L1a without an upstream call`, async () => {
      const tap = makeTap()
      const texts = [`first text for ${client.name}`, "second text"]
      const url = upstreams.gateway("openai").url
      const before = upstreams.modelCalls()
      const first = await client.embed(url, `embeddings-${client.name}`, tap, texts)
      assert.deepEqual(first.map(asFloat32), texts.map(expected))
      assert.equal(upstreams.modelCalls(), before + 1)
      const second = await client.embed(url, `embeddings-${client.name}`, tap, texts)
      assert.deepEqual(second, first)
      assert.deepEqual(tap.paths, ["/v1/embeddings", "/v1/embeddings"])
      assert.deepEqual(tap.layers, ["l3", "l1a"])
      assert.equal(upstreams.modelCalls(), before + 1)
    })
  }
})

describe("embeddings with an Anthropic-format upstream", () => {
  it("are the openai SDK's BadRequestError saying why, without an upstream call", async () => {
    const url = upstreams.gateway("anthropic").url
    const client = new OpenAI({ apiKey: "embeddings-anthropic", baseURL: `${url}/v1`, maxRetries: 0 })
    const before = upstreams.modelCalls()
    const error = await client.embeddings.create({ model, input: "no vectors here" }).catch((e: unknown) => e)
    assert.ok(error instanceof OpenAI.BadRequestError, String(error))
    assert.match(error.message, /anthropic has no embeddings API/)
    assert.equal(upstreams.modelCalls(), before)
  })
})
