import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { fakeUpstreamGateways, startTestGateway } from "../support/gateway.ts"

// The OpenAI Responses API through the gateway, with the openai SDK's own `responses` client, against an upstream
// that speaks Chat Completions and one that speaks Anthropic Messages (both translated from the Responses body).

const running = fakeUpstreamGateways({
  openai: { env: { ISARTOR__LLM_PROVIDER: "openai", ISARTOR__L3_MAX_RETRIES: "0" } },
  anthropic: { env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__L3_MAX_RETRIES: "0" } }
}, { kind: "providers" })
const { gateways } = running

const lookupTool = {
  type: "function" as const,
  name: "lookup",
  description: "Looks a thing up",
  parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
  strict: false
}

for (const provider of ["openai", "anthropic"] as const) {
  describe(`/v1/responses with an ${provider} upstream`, () => {
    const client = (apiKey = "caller-key-1") =>
      new OpenAI({ apiKey, baseURL: `${gateways[provider].url}/v1`, maxRetries: 0 })

    it("answers with a response object, then the same request from L1a under a new id", async () => {
      const input = `What is a response? (${provider})`
      const first = await client().responses.create({ model: "gpt-4o-mini", input }).withResponse()
      assert.equal(first.response.headers.get("x-isartor-layer"), "l3")
      assert.equal(first.data.object, "response")
      assert.equal(first.data.status, "completed")
      assert.match(first.data.id, /^resp_/)
      assert.equal(first.data.output_text, `Answer to: ${input} | system: none | turns: 1`)
      assert.ok(first.data.usage && first.data.usage.input_tokens > 0 && first.data.usage.output_tokens > 0)
      assert.equal(running.upstream.calls.length, 1)
      assert.equal(running.upstream.calls[0]!.format, provider)

      const second = await client().responses.create({ model: "gpt-4o-mini", input }).withResponse()
      assert.equal(second.response.headers.get("x-isartor-layer"), "l1a")
      assert.equal(second.data.output_text, first.data.output_text)
      if (provider === "openai") {
        // Passed through: the upstream's own response, id included (the upstream knows it, should it be continued).
        assert.equal(running.upstream.calls[0]!.path, "/v1/responses")
        assert.deepEqual(second.data, first.data)
      } else {
        // Translated: every answer is a response of the gateway's, under an id of its own.
        assert.equal(running.upstream.calls[0]!.path, "/v1/messages")
        assert.notEqual(second.data.id, first.data.id)
      }
      assert.equal(running.upstream.calls.length, 1)
    })

    it("sends instructions and message items upstream as the system prompt and the turns", async () => {
      const response = await client().responses.create({
        model: "gpt-4o-mini",
        instructions: "Be brief.",
        input: [
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          { role: "user", content: [{ type: "input_text", text: "second question" }] }
        ]
      })
      assert.equal(response.output_text, "Answer to: second question | system: Be brief. | turns: 3")
      assert.equal(response.instructions, "Be brief.")
    })

    it("streams typed events whose deltas spell the final text, and replays a cached answer the same way", async () => {
      const stream = async () => {
        const { data, response } = await client().responses.create({
          model: "gpt-4o-mini",
          input: `stream me (${provider})`,
          stream: true
        }).withResponse()
        const types: Array<string> = []
        let text = ""
        let completed: OpenAI.Responses.Response | undefined
        for await (const event of data) {
          types.push(event.type)
          if (event.type === "response.output_text.delta") text += event.delta
          if (event.type === "response.completed") completed = event.response
        }
        return { layer: response.headers.get("x-isartor-layer"), types, text, completed }
      }
      const live = await stream()
      assert.equal(live.layer, "l3")
      assert.equal(live.types[0], "response.created")
      assert.ok(live.types.includes("response.output_item.added"))
      assert.ok(live.types.includes("response.output_text.done"))
      assert.equal(live.types.at(-1), "response.completed")
      assert.equal(live.text, `Answer to: stream me (${provider}) | system: none | turns: 1`)
      // The wire has no `output_text` (the SDK adds it to non-streamed responses): the completed output holds the text.
      const [message] = live.completed?.output ?? []
      assert.deepEqual(
        message?.type === "message" ? message.content.map((part) => part.type === "output_text" && part.text) : [],
        [live.text]
      )
      assert.ok((live.completed?.usage?.input_tokens ?? 0) > 0)

      const replay = await stream()
      assert.equal(replay.layer, "l1a")
      assert.equal(replay.text, live.text)
      // The same events in the same order; a replay sends the text in one delta where the upstream sent words.
      const distinct = (types: Array<string>) => types.filter((type, at) => type !== types[at - 1])
      assert.deepEqual(distinct(replay.types), distinct(live.types))
      assert.equal(running.upstream.calls.length, 1)
    })

    it("makes a function call and reads its output on the next turn (plain and streamed)", async () => {
      const input = `look up the weather (${provider})`
      const first = await client().responses.create({ model: "gpt-4o-mini", input, tools: [lookupTool] })
      const call = first.output.find((item) => item.type === "function_call")
      assert.ok(call && call.type === "function_call")
      assert.equal(call.name, "lookup")
      assert.deepEqual(JSON.parse(call.arguments), { query: input })

      const streamed = await client().responses.create({
        model: "gpt-4o-mini",
        input: `${input} again`,
        tools: [lookupTool],
        stream: true
      })
      let args = ""
      let done: OpenAI.Responses.ResponseOutputItem | undefined
      for await (const event of streamed) {
        if (event.type === "response.function_call_arguments.delta") args += event.delta
        if (event.type === "response.output_item.done") done = event.item
      }
      assert.deepEqual(JSON.parse(args), { query: `${input} again` })
      assert.equal(done?.type, "function_call")

      const second = await client().responses.create({
        model: "gpt-4o-mini",
        tools: [lookupTool],
        input: [
          { role: "user", content: input },
          { type: "function_call", call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: "function_call_output", call_id: call.call_id, output: "sunny, 21 °C" }
        ]
      })
      assert.equal(second.output_text, "Tool said: sunny, 21 °C")
    })

    it("continues a stored response with previous_response_id, and GETs and DELETEs it", async () => {
      const first = await client().responses.create({ model: "gpt-4o-mini", input: `remember me (${provider})` })
      const fetched = await client().responses.retrieve(first.id)
      assert.equal(fetched.output_text, first.output_text)

      const next = await client().responses.create({
        model: "gpt-4o-mini",
        input: "and now?",
        previous_response_id: first.id
      })
      assert.equal(next.output_text, "Answer to: and now? | system: none | turns: 3")
      assert.equal(next.previous_response_id, first.id)

      // Another caller neither reads nor continues it.
      await assert.rejects(client("caller-key-2").responses.retrieve(first.id), { status: 404 })
      await assert.rejects(
        client("caller-key-2").responses.create({ model: "gpt-4o-mini", input: "x", previous_response_id: first.id }),
        (error: InstanceType<typeof OpenAI.APIError>) =>
          error.status === 400 && error.code === "previous_response_not_found"
      )

      await client().responses.delete(first.id)
      await assert.rejects(client().responses.retrieve(first.id), { status: 404 })
    })

    it("keeps nothing with store: false", async () => {
      const response = await client().responses.create({
        model: "gpt-4o-mini",
        input: `forget me (${provider})`,
        store: false
      })
      await assert.rejects(client().responses.retrieve(response.id), { status: 404 })
    })

    it("passes an upstream rate limit on as a 429 the SDK raises", async () => {
      running.upstream.queue.push({ kind: "error", status: 429, message: "slow down", headers: { "retry-after": "1" } })
      await assert.rejects(
        client().responses.create({ model: "gpt-4o-mini", input: `limited (${provider})` }),
        (error: InstanceType<typeof OpenAI.APIError>) =>
          error.status === 429 && error.headers?.get("retry-after") === "1"
      )
    })
  })
}

describe("/v1/responses input checks", () => {
  const post = (body: unknown) =>
    fetch(`${gateways.openai!.url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })

  it("answers a body without input, or with a malformed item, with a 400 naming the field", async () => {
    const missing = await post({ model: "gpt-4o-mini" })
    assert.equal(missing.status, 400)
    assert.equal(((await missing.json()) as { error: { param: string } }).error.param, "input")

    const malformed = await post({ model: "gpt-4o-mini", input: [{ type: "function_call", name: "x" }] })
    assert.equal(malformed.status, 400)
    assert.match(((await malformed.json()) as { error: { message: string } }).error.message, /^input\[0\]/)
    assert.equal(running.upstream.calls.length, 0)
  })

  it("answers an unknown response id with a 404 in OpenAI's error shape", async () => {
    const response = await fetch(`${gateways.openai!.url}/v1/responses/resp_unknown`)
    assert.equal(response.status, 404)
    const body = (await response.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, "response_not_found")
  })
})

describe("/v1/responses passed through to a provider that speaks it", () => {
  const codexLike = (input: string, extra: Record<string, unknown> = {}) => ({
    model: "gpt-5-codex",
    instructions: "You are a coding agent.",
    input: [{ type: "message", role: "user", content: [{ type: "input_text", text: input }] }],
    tools: [{ type: "web_search" }, { ...lookupTool }],
    reasoning: { effort: "low", summary: "auto" },
    include: ["reasoning.encrypted_content"],
    store: false,
    prompt_cache_key: "session-1",
    ...extra
  })
  const post = (body: string, gateway: keyof typeof gateways = "openai") =>
    fetch(`${gateways[gateway].url}/v1/responses`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer caller-key-1", "openai-project": "proj_1" },
      body
    })

  it("sends the client's bytes and returns the upstream's items, reasoning included", async () => {
    const body = JSON.stringify(codexLike("pass me through"))
    const response = await post(body)
    assert.equal(response.status, 200, await response.clone().text())
    const call = running.upstream.calls[0]!
    assert.equal(call.path, "/v1/responses")
    assert.equal(call.raw, body)
    assert.equal(call.headers["openai-project"], "proj_1")
    assert.equal(call.headers.authorization, `Bearer ${running.upstream.apiKey}`)
    const answer = (await response.json()) as { output: Array<{ type: string; encrypted_content?: string }> }
    assert.equal(answer.output[0]?.type, "reasoning")
    assert.equal(answer.output[0]?.encrypted_content, "enc-fake-reasoning")
  })

  it("streams the upstream's events as they are, and replays the cached response with the same items", async () => {
    const events = async () => {
      const response = await post(JSON.stringify(codexLike("stream me through", { stream: true })))
      const text = await response.text()
      const items = [...text.matchAll(/^data: (.*)$/gm)].map((match) => JSON.parse(match[1]!) as Record<string, any>)
      return { layer: response.headers.get("x-isartor-layer"), key: response.headers.get("x-isartor-cache-key"), items }
    }
    const live = await events()
    assert.equal(live.layer, "l3")
    const done = (events: Array<Record<string, any>>) =>
      events.filter((event) => event.type === "response.output_item.done").map((event) => event.item)
    assert.deepEqual(done(live.items).map((item) => item.type), ["reasoning", "function_call"])
    assert.equal(live.items.at(-1)!.type, "response.completed")

    const replay = await events()
    assert.equal(replay.layer, "l1a")
    assert.match(replay.key ?? "", /^l1a_/)
    assert.equal(replay.key, live.key)
    assert.deepEqual(done(replay.items), done(live.items))
    assert.deepEqual(replay.items.at(-1)!.response, live.items.at(-1)!.response)
    assert.equal(running.upstream.calls.length, 1)
  })

  it("reaches Azure's v1 Responses path with the deployment as the model", async () => {
    const azure = await startTestGateway({
      ISARTOR__LLM_PROVIDER: "azure",
      ISARTOR__EXTERNAL_LLM_URL: running.upstream.url,
      ISARTOR__EXTERNAL_LLM_API_KEY: running.upstream.apiKey,
      ISARTOR__AZURE_DEPLOYMENT_ID: "my-deployment"
    })
    try {
      const client = new OpenAI({ apiKey: "caller-key-1", baseURL: `${azure.url}/v1`, maxRetries: 0 })
      const response = await client.responses.create({ model: "gpt-4o-mini", input: "hello azure" })
      assert.equal(response.output_text, "Answer to: hello azure | system: none | turns: 1")
      assert.equal(running.upstream.calls[0]!.path, "/openai/v1/responses")
      assert.equal(running.upstream.calls[0]!.body.model, "my-deployment")
      assert.equal(running.upstream.calls[0]!.headers["api-key"], running.upstream.apiKey)
    } finally {
      await azure.close()
    }
  })

  it("ends a stream that breaks off with one error event, as the Responses API does, and no completion", async () => {
    running.upstream.queue.push({ kind: "break-stream" })
    const client = new OpenAI({ apiKey: "caller-key-1", baseURL: `${gateways.openai!.url}/v1`, maxRetries: 0 })
    const stream = await client.responses.create({ model: "gpt-4o-mini", input: "break me please now", stream: true })
    const types: Array<string> = []
    let message = ""
    for await (const event of stream) {
      types.push(event.type)
      if (event.type === "error") message = event.message
    }
    // The openai SDK hands the API's `error` event to the reader (newer majors raise it): either way, it is the last.
    assert.equal(types.at(-1), "error")
    assert.equal(types.filter((type) => type === "error").length, 1)
    assert.ok(!types.includes("response.completed"))
    assert.match(message, /broke off/)
  })
})
