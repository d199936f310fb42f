import { createAnthropic } from "@ai-sdk/anthropic"
import Anthropic from "@anthropic-ai/sdk"
import { ChatOpenAI } from "@langchain/openai"
import { generateObject, jsonSchema } from "ai"
import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { conversationModel } from "../support/fakeModel.ts"
import type { FakeModel } from "../support/fakeProviders.ts"
import { fakeUpstreamGateways, startTestGateway, TEST_PROVIDER_KEY } from "../support/gateway.ts"

/**
 * The gaps between formats that real clients found (issue 32), each through the client that found it: structured
 * output, parallel tool use, what Anthropic cannot answer, the model list and a cached stream's usage.
 */
const CITY = { city: "Paris" }
/** The fake model answers JSON when asked for structured output in either API, else as usual. */
const structuredModel: FakeModel = {
  promptTokens: conversationModel.promptTokens,
  reply: (conversation, body) =>
    body.response_format !== undefined || body.output_config?.format !== undefined
      ? { kind: "text", text: JSON.stringify(CITY) }
      : conversationModel.reply(conversation, body)
}

type Upstream = "openai" | "anthropic"
const common = { ISARTOR__CACHE_MODE: "exact", ISARTOR__L3_RETRY_BASE_MS: "1" }
const file = fakeUpstreamGateways({
  openai: { env: common },
  anthropic: (upstream) => ({
    env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__EXTERNAL_LLM_URL: upstream.url, ...common }
  })
}, { kind: "providers", model: structuredModel })

let callers = 0
const key = () => `gaps-caller-${process.pid}-${++callers}`
const url = (upstream: Upstream) => file.gateways[upstream].url
const openai = (upstream: Upstream) => new OpenAI({ apiKey: key(), baseURL: `${url(upstream)}/v1`, maxRetries: 0 })
const anthropic = (upstream: Upstream) => new Anthropic({ apiKey: key(), baseURL: url(upstream), maxRetries: 0 })
const lastBody = () => file.upstream.calls.at(-1)!.body as Record<string, any>
const citySchema = {
  type: "object" as const,
  properties: { city: { type: "string" as const } },
  required: ["city"],
  additionalProperties: false
}
const weatherTool = {
  type: "function" as const,
  function: { name: "get_weather", parameters: { type: "object", properties: { query: { type: "string" } } } }
}

describe("structured output across formats", () => {
  it("AI SDK generateObject with a Claude model: output_config.format reaches an OpenAI upstream as response_format", async () => {
    const model = createAnthropic({ apiKey: key(), baseURL: `${url("openai")}/v1` })("claude-sonnet-4-5")
    const { object } = await generateObject({
      model,
      schema: jsonSchema<{ city: string }>(citySchema),
      prompt: "Which city is the capital of France?",
      providerOptions: { anthropic: { structuredOutputMode: "outputFormat" } },
      maxRetries: 0
    })
    assert.deepEqual(object, CITY)
    assert.deepEqual(lastBody().response_format, {
      type: "json_schema",
      json_schema: { name: "output", schema: citySchema }
    })
  })

  it("openai SDK response_format json_schema reaches an Anthropic upstream as output_config.format", async () => {
    const completion = await openai("anthropic").chat.completions.create({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "Which city?" }],
      response_format: { type: "json_schema", json_schema: { name: "city", schema: citySchema } }
    })
    assert.deepEqual(JSON.parse(completion.choices[0]!.message.content!), CITY)
    assert.deepEqual(lastBody().output_config, { format: { type: "json_schema", schema: citySchema } })
  })

  it("LangChain withStructuredOutput (json schema) against an Anthropic upstream gets the object, not prose", async () => {
    const model = new ChatOpenAI({
      model: "claude-sonnet-4-5",
      apiKey: key(),
      maxRetries: 0,
      configuration: { baseURL: `${url("anthropic")}/v1` }
    })
    const structured = model.withStructuredOutput(citySchema, { name: "city", method: "jsonSchema" })
    assert.deepEqual(await structured.invoke("Which city?"), CITY)
    assert.deepEqual(lastBody().output_config?.format?.schema, citySchema)
  })

  it("openai SDK responses with text.format reaches an Anthropic upstream as output_config.format", async () => {
    const response = await openai("anthropic").responses.create({
      model: "claude-sonnet-4-5",
      input: "Which city?",
      text: { format: { type: "json_schema", name: "city", schema: citySchema } }
    })
    assert.deepEqual(JSON.parse(response.output_text), CITY)
    assert.deepEqual(lastBody().output_config, { format: { type: "json_schema", schema: citySchema } })
  })

  it("json_object mode to an Anthropic upstream is a 400 that says why, and nothing is sent", async () => {
    const before = file.upstream.calls.length
    const error = await openai("anthropic").chat.completions.create({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "JSON please" }],
      response_format: { type: "json_object" }
    }).catch((e: unknown) => e)
    assert.ok(error instanceof OpenAI.BadRequestError, String(error))
    assert.match(error.message, /json_object has no anthropic counterpart/)
    assert.equal(file.upstream.calls.length, before)
  })
})

describe("parallel tool use across formats", () => {
  it("openai SDK parallel_tool_calls: false reaches an Anthropic upstream as disable_parallel_tool_use", async () => {
    await openai("anthropic").chat.completions.create({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "Weather in two cities?" }],
      tools: [weatherTool],
      parallel_tool_calls: false
    })
    assert.deepEqual(lastBody().tool_choice, { type: "auto", disable_parallel_tool_use: true })
  })

  it("@anthropic-ai/sdk disable_parallel_tool_use reaches an OpenAI upstream as parallel_tool_calls: false", async () => {
    await anthropic("openai").messages.create({
      model: "gpt-4o-mini",
      max_tokens: 100,
      messages: [{ role: "user", content: "Weather in two cities?" }],
      tools: [{ name: "get_weather", input_schema: { type: "object", properties: { query: { type: "string" } } } }],
      tool_choice: { type: "auto", disable_parallel_tool_use: true }
    })
    assert.equal(lastBody().parallel_tool_calls, false)
    assert.equal(lastBody().tool_choice, "auto")
  })
})

describe("what Anthropic cannot answer is refused, never silently dropped", () => {
  for (
    const [field, extra, reason] of [
      ["n: 2", { n: 2 }, /n: 2 choices cannot be sent to anthropic/],
      ["logprobs", { logprobs: true, top_logprobs: 2 }, /anthropic does not return log probabilities/]
    ] as const
  ) {
    it(`openai SDK ${field} to an Anthropic upstream: a 400 that says why, nothing sent or cached`, async () => {
      const client = openai("anthropic")
      const ask = () =>
        client.chat.completions.create({
          model: "claude-sonnet-4-5",
          messages: [{ role: "user", content: `Two answers, please (${field})` }],
          ...extra
        }).catch((e: unknown) => e)
      const before = file.upstream.calls.length
      for (const error of [await ask(), await ask()]) {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error))
        assert.match(error.message, reason)
      }
      assert.equal(file.upstream.calls.length, before)
    })
  }
})

describe("the model list, in each SDK's shape", () => {
  it("openai SDK models.list and models.retrieve", async () => {
    const client = openai("openai")
    const listed = []
    for await (const model of client.models.list()) listed.push(model.id)
    assert.deepEqual(listed, ["gpt-4o-mini"])
    const model = await client.models.retrieve("gpt-4o-mini")
    assert.equal(model.id, "gpt-4o-mini")
    assert.equal(model.object, "model")
    const missing = await client.models.retrieve("no-such-model").catch((e: unknown) => e)
    assert.ok(missing instanceof OpenAI.NotFoundError, String(missing))
  })

  it("@anthropic-ai/sdk models.list and models.retrieve: Anthropic's shape, no OpenAI default for an anthropic provider", async () => {
    const openaiSide = anthropic("openai")
    const page = await openaiSide.models.list()
    assert.deepEqual(page.data.map((model) => [model.type, model.id, model.display_name]), [
      ["model", "gpt-4o-mini", "gpt-4o-mini"]
    ])
    assert.equal(typeof page.data[0]!.created_at, "string")
    assert.equal(page.has_more, false)
    const retrieved = await openaiSide.models.retrieve("gpt-4o-mini")
    assert.equal(retrieved.type, "model")
    assert.equal(retrieved.id, "gpt-4o-mini")
    const missing = await openaiSide.models.retrieve("claude-nope").catch((e: unknown) => e)
    assert.ok(missing instanceof Anthropic.NotFoundError, String(missing))
    // The default model (an OpenAI one) is not offered by a gateway whose provider is Anthropic.
    assert.deepEqual((await anthropic("anthropic").models.list()).data, [])
  })
})

describe("a cached stream's usage chunk", () => {
  const streamed = async (includeUsage: boolean, apiKey: string, prompt: string) => {
    const client = new OpenAI({ apiKey, baseURL: `${url("openai")}/v1`, maxRetries: 0 })
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: prompt }],
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {})
    }).withResponse()
    const chunks = []
    for await (const chunk of stream.data) chunks.push(chunk)
    return { layer: stream.response.headers.get("x-isartor-layer"), chunks }
  }

  it("openai SDK: a stream cached with include_usage replays no usage chunk to a client that did not ask", async () => {
    const apiKey = key()
    const first = await streamed(true, apiKey, "Usage asked first")
    assert.ok(first.chunks.some((chunk) => chunk.choices.length === 0 && chunk.usage))
    const second = await streamed(false, apiKey, "Usage asked first")
    assert.equal(second.layer, "l1a")
    // Code that reads choices[0] of every chunk must not crash.
    assert.ok(second.chunks.every((chunk) => chunk.choices[0] !== undefined), JSON.stringify(second.chunks.at(-1)))
    const third = await streamed(true, apiKey, "Usage asked first")
    assert.equal(third.layer, "l1a")
    assert.ok(third.chunks.at(-1)!.usage, "the client that asks still gets it")
  })

  it("openai SDK: a stream cached without include_usage still ends with a usage chunk for a client that asks", async () => {
    const apiKey = key()
    const first = await streamed(false, apiKey, "Usage not asked first")
    assert.ok(first.chunks.every((chunk) => chunk.usage === undefined || chunk.usage === null))
    const second = await streamed(true, apiKey, "Usage not asked first")
    assert.equal(second.layer, "l1a")
    const last = second.chunks.at(-1)!
    assert.deepEqual(last.choices, [])
    assert.ok(last.usage!.prompt_tokens > 0 && last.usage!.completion_tokens > 0, JSON.stringify(last.usage))
    assert.equal(last.usage!.total_tokens, last.usage!.prompt_tokens + last.usage!.completion_tokens)
    const text = second.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
    assert.equal(text, first.chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join(""))
  })

  it("an estimated usage is not counted as tokens saved when the cached stream is replayed", async () => {
    const saved = async () => {
      const metrics = await (await fetch(`${url("openai")}/metrics`)).text()
      const line = metrics.split("\n").find((row) =>
        row.startsWith("isartor_tokens_total") && row.includes(`direction="saved"`)
      )
      return line === undefined ? 0 : Number(line.split(" ").at(-1))
    }
    const apiKey = key()
    await streamed(false, apiKey, "Usage never reported")
    const before = await saved()
    const replay = await streamed(false, apiKey, "Usage never reported")
    assert.equal(replay.layer, "l1a")
    const asked = await streamed(true, apiKey, "Usage never reported")
    assert.equal(asked.layer, "l1a")
    assert.ok(asked.chunks.at(-1)!.usage!.prompt_tokens > 0, "the replay still ends with the estimate")
    assert.equal(await saved(), before, "no provider reported those tokens")
  })
})

describe("count_tokens when the upstream answers 404", () => {
  /** An Anthropic-compatible upstream: 404 for a model it does not have (Anthropic's body), or for every count. */
  const upstream = async (hasEndpoint: boolean) => {
    const server = createServer((req, res) => {
      let raw = ""
      req.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")))
      req.on("end", () => {
        const model = (JSON.parse(raw || "{}") as { model?: string }).model
        res.writeHead(404, { "content-type": "application/json" })
        res.end(
          hasEndpoint
            ? JSON.stringify({ type: "error", error: { type: "not_found_error", message: `model: ${model}` } })
            : JSON.stringify({ detail: "Not Found" })
        )
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const gateway = await startTestGateway({
      ISARTOR__LLM_PROVIDER: "anthropic",
      ISARTOR__EXTERNAL_LLM_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__L3_RETRY_BASE_MS: "1"
    })
    return {
      client: new Anthropic({ apiKey: key(), baseURL: gateway.url, maxRetries: 0 }),
      close: async () => {
        await gateway.close()
        server.close()
      }
    }
  }
  const ask = { model: "claude-nope-9", messages: [{ role: "user" as const, content: "Hello" }] }

  it("@anthropic-ai/sdk: a model that does not exist is the client's 404, not an estimate", async () => {
    const { client, close } = await upstream(true)
    try {
      const failed = await client.messages.countTokens(ask).catch((e: unknown) => e)
      assert.ok(failed instanceof Anthropic.NotFoundError, String(failed))
      assert.match(failed.message, /claude-nope-9/)
    } finally {
      await close()
    }
  })

  it("@anthropic-ai/sdk: an upstream without count_tokens gets an estimate", async () => {
    const { client, close } = await upstream(false)
    try {
      const counted = await client.messages.countTokens(ask).withResponse()
      assert.ok(counted.data.input_tokens > 0)
      assert.equal(counted.response.headers.get("x-isartor-token-count"), "estimate")
    } finally {
      await close()
    }
  })
})
