import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { readdir } from "node:fs/promises"
import { after, before, describe, it } from "node:test"
import OpenAI from "openai"
import { providerConfigKeys } from "../../core/config/ConfigSpec.ts"
import { providerConfigKey, type ProviderId, providers } from "../../core/providers/registry.ts"
import { type FakeProviders, PROMPT_TOKENS, startFakeProviders, type WireFormat } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway } from "../support/gateway.ts"

/**
 * The conformance suite every provider file runs: the same scenarios, through the OpenAI and the Anthropic client
 * APIs, against a loopback fake that speaks the provider's own wire format.
 */
interface Target {
  readonly format: WireFormat
  /** `ISARTOR__EXTERNAL_LLM_URL` for this provider, given the fake's base URL. */
  readonly url: (base: string) => string
  readonly env?: Record<string, string>
  readonly keyless?: boolean
}

const targets = {
  openai: { format: "openai", url: (base) => `${base}/v1` },
  azure: { format: "azure", url: (base) => base, env: { ISARTOR__AZURE_DEPLOYMENT_ID: "gpt-4o-prod" } },
  anthropic: { format: "anthropic", url: (base) => base },
  xai: { format: "openai", url: (base) => `${base}/v1` },
  gemini: { format: "gemini", url: (base) => base },
  ollama: { format: "ollama", url: (base) => `${base}/ollama`, keyless: true },
  "openai-compatible": { format: "openai", url: (base) => `${base}/v1/chat/completions` }
} satisfies Record<ProviderId, Target>

describe("provider registry", () => {
  it("registers every provider file in core/providers, and the suite covers every registered provider", async () => {
    const files = (await readdir(new URL("../../core/providers/", import.meta.url), { withFileTypes: true }))
      .filter((entry) =>
        entry.isFile() && entry.name.endsWith(".ts") && entry.name !== "registry.ts" && entry.name !== "Provider.ts"
      )
      .map((entry) => entry.name.replace(/\.ts$/, ""))
    for (const file of files) {
      assert.ok(Object.hasOwn(providers, file), `core/providers/${file}.ts is not in the registry`)
    }
    for (const [id, definition] of Object.entries(providers)) {
      assert.equal(definition.id, id, `registry key ${id} names its provider`)
      assert.ok(files.includes(id), `${id} has its own file`)
      assert.ok(Object.hasOwn(targets, id), `${id} runs the conformance suite`)
      assert.ok(
        (providerConfigKeys as ReadonlyArray<string>).includes(providerConfigKey(id as ProviderId)),
        `${id} has a [providers.*] config table`
      )
    }
  })
})

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { query: { type: "string" } } }
  }
}

let fake: FakeProviders
before(async () => {
  fake = await startFakeProviders()
})
after(() => fake.close())

for (const [id, target] of Object.entries(targets) as Array<[ProviderId, Target]>) {
  describe(`provider conformance: ${id}`, () => {
    let gateway: RunningGateway
    let openai: OpenAI
    let anthropic: Anthropic
    const callsFor = () => fake.calls.filter((call) => call.format === target.format)

    before(async () => {
      gateway = await startTestGateway({
        ISARTOR__LLM_PROVIDER: id,
        ISARTOR__EXTERNAL_LLM_URL: target.url(fake.url),
        ...(target.keyless ? {} : { ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey }),
        ISARTOR__L3_MAX_RETRIES: "0",
        ...target.env
      })
      openai = new OpenAI({ apiKey: "caller", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      anthropic = new Anthropic({ apiKey: "caller", baseURL: gateway.url, maxRetries: 0 })
    })
    after(() => gateway.close())

    it("starts with no warning", () => assert.deepEqual(gateway.warnings, []))

    it("single turn (OpenAI client): the answer, the usage, and the provider header", async () => {
      const { data, response } = await openai.chat.completions
        .create({ model: "model-a", messages: [{ role: "user", content: `hello ${id}` }] })
        .withResponse()
      const answer = `Answer to: hello ${id} | system: none | turns: 1`
      assert.equal(data.choices[0]?.message.content, answer)
      assert.equal(data.choices[0]?.finish_reason, "stop")
      // The fake counts one completion token per word of its answer.
      const words = answer.split(" ").length
      assert.equal(data.usage?.prompt_tokens, PROMPT_TOKENS)
      assert.equal(data.usage?.completion_tokens, words)
      assert.equal(data.usage?.total_tokens, PROMPT_TOKENS + words)
      assert.equal(response.headers.get("x-isartor-provider"), id)
      assert.equal(callsFor().length > 0, true, `the ${target.format} fake was called`)
    })

    it("multi-turn with a system prompt (OpenAI client): every turn and the system prompt arrive", async () => {
      const data = await openai.chat.completions.create({
        model: "model-a",
        messages: [
          { role: "system", content: "Be terse." },
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          { role: "user", content: `second question ${id}` }
        ]
      })
      assert.equal(data.choices[0]?.message.content, `Answer to: second question ${id} | system: Be terse. | turns: 3`)
    })

    it("tool call round trip (OpenAI client)", async () => {
      const question = { role: "user" as const, content: `weather in Paris for ${id}?` }
      const first = await openai.chat.completions.create({
        model: "model-a",
        messages: [question],
        tools: [weatherTool]
      })
      const call = first.choices[0]?.message.tool_calls?.[0]
      assert.equal(first.choices[0]?.finish_reason, "tool_calls")
      assert.ok(call && call.type === "function")
      assert.equal(call.function.name, "get_weather")
      assert.deepEqual(JSON.parse(call.function.arguments), { query: `weather in Paris for ${id}?` })
      const second = await openai.chat.completions.create({
        model: "model-a",
        tools: [weatherTool],
        messages: [question, { role: "assistant", content: null, tool_calls: [call] }, {
          role: "tool",
          tool_call_id: call.id,
          content: "18C and sunny"
        }]
      })
      assert.equal(second.choices[0]?.message.content, "Tool said: 18C and sunny")
    })

    it("streaming text and tool calls (OpenAI client), with usage when asked for", async () => {
      const stream = await openai.chat.completions.create({
        model: "model-a",
        messages: [{ role: "user", content: `stream please ${id}` }],
        stream: true,
        stream_options: { include_usage: true }
      })
      let text = ""
      let chunks = 0
      let finish: string | null = null
      let usage: OpenAI.CompletionUsage | undefined
      for await (const chunk of stream) {
        chunks++
        text += chunk.choices[0]?.delta.content ?? ""
        finish = chunk.choices[0]?.finish_reason ?? finish
        usage = chunk.usage ?? usage
      }
      assert.equal(text, `Answer to: stream please ${id} | system: none | turns: 1`)
      assert.ok(chunks > 3, "deltas arrive as separate chunks")
      assert.equal(finish, "stop")
      assert.equal(usage?.prompt_tokens, PROMPT_TOKENS)

      const tools = await openai.chat.completions.create({
        model: "model-a",
        messages: [{ role: "user", content: `streamed tool ${id}` }],
        tools: [weatherTool],
        stream: true
      })
      let name = ""
      let args = ""
      let toolFinish: string | null = null
      for await (const chunk of tools) {
        for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
          name += call.function?.name ?? ""
          args += call.function?.arguments ?? ""
        }
        toolFinish = chunk.choices[0]?.finish_reason ?? toolFinish
      }
      assert.equal(name, "get_weather")
      assert.deepEqual(JSON.parse(args), { query: `streamed tool ${id}` })
      assert.equal(toolFinish, "tool_calls")
    })

    it("maps upstream errors: 400 keeps its message, 429 keeps Retry-After", async () => {
      fake.queue.push({ kind: "error", status: 400, message: "that model does not take this option" })
      const bad = await openai.chat.completions.create({
        model: "model-a",
        messages: [{ role: "user", content: `bad ${id}` }]
      }).catch((e: unknown) => e)
      assert.ok(bad instanceof OpenAI.BadRequestError)
      assert.match(bad.message, new RegExp(`provider ${id}: that model does not take this option`))
      fake.queue.push({ kind: "error", status: 429, message: "slow down", headers: { "retry-after": "3" } })
      const limited = await openai.chat.completions.create({
        model: "model-a",
        messages: [{ role: "user", content: `limited ${id}` }]
      }).catch((e: unknown) => e)
      assert.ok(limited instanceof OpenAI.RateLimitError)
      assert.equal(limited.headers?.get("retry-after"), "3")
      assert.match(limited.message, /slow down/)
    })

    it("single turn and system prompt (Anthropic client, /v1/messages)", async () => {
      const message = await anthropic.messages.create({
        model: "model-b",
        max_tokens: 100,
        system: "Answer kindly.",
        messages: [
          { role: "user", content: "earlier" },
          { role: "assistant", content: "reply" },
          { role: "user", content: `anthropic client ${id}` }
        ]
      })
      assert.equal(message.type, "message")
      assert.equal(message.stop_reason, "end_turn")
      assert.deepEqual(message.content, [{
        type: "text",
        text: `Answer to: anthropic client ${id} | system: Answer kindly. | turns: 3`
      }])
      assert.equal(message.usage.input_tokens, PROMPT_TOKENS)
    })

    it("tool use round trip (Anthropic client)", async () => {
      const tool = {
        name: "get_weather",
        description: "Weather for a city",
        input_schema: { type: "object" as const, properties: { query: { type: "string" } } }
      }
      const question = { role: "user" as const, content: `anthropic tools ${id}` }
      const first = await anthropic.messages.create({
        model: "model-b",
        max_tokens: 100,
        tools: [tool],
        messages: [question]
      })
      assert.equal(first.stop_reason, "tool_use")
      const use = first.content.find((block) => block.type === "tool_use")
      assert.ok(use && use.type === "tool_use")
      assert.equal(use.name, "get_weather")
      assert.deepEqual(use.input, { query: `anthropic tools ${id}` })
      const second = await anthropic.messages.create({
        model: "model-b",
        max_tokens: 100,
        tools: [tool],
        messages: [question, { role: "assistant", content: first.content }, {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: use.id, content: "rainy" }]
        }]
      })
      assert.deepEqual(second.content, [{ type: "text", text: "Tool said: rainy" }])
    })

    it("streaming (Anthropic client)", async () => {
      const stream = anthropic.messages.stream({
        model: "model-b",
        max_tokens: 100,
        messages: [{ role: "user", content: `anthropic stream ${id}` }]
      })
      let deltas = 0
      stream.on("text", () => deltas++)
      const final = await stream.finalMessage()
      assert.deepEqual(final.content, [{
        type: "text",
        text: `Answer to: anthropic stream ${id} | system: none | turns: 1`
      }])
      assert.equal(final.stop_reason, "end_turn")
      assert.ok(deltas > 3, "text arrives in several deltas")
    })

    // OpenAI-style upstreams get the body as the client wrote it; the translating providers cannot carry such tools.
    if (target.format === "anthropic" || target.format === "gemini") {
      it("a tool its format cannot carry is a 400 naming it, and nothing is sent upstream (OpenAI client)", async () => {
        const custom = { type: "custom", custom: { name: "run_sql" } }
        const ask = {
          model: "model-a",
          messages: [{ role: "user" as const, content: `custom tool ${id}` }],
          tools: [custom]
        }
        const before = callsFor().length
        const result = await openai.chat.completions.create(
          ask as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming
        )
          .then(() => undefined, (error: unknown) => error)
        assert.ok(result instanceof OpenAI.BadRequestError, `got ${String(result)}`)
        assert.match(result.message, new RegExp(`tools\\[0\\]: only function tools can be sent to ${id}`))
        assert.equal(callsFor().length, before)
      })
    }
  })
}
