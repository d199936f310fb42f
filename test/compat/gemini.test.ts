import { ApiError, FunctionCallingConfigMode, GoogleGenAI, Type } from "@google/genai"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { PROMPT_TOKENS } from "../support/fakeProviders.ts"
import { fakeUpstreamGateways, TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { answerTo } from "./suite.ts"

/**
 * `@google/genai`, Gemini's own client, pointed at the gateway (`httpOptions.baseUrl`), against a Gemini-format and an
 * OpenAI-format upstream (one fake speaks both): plain, streamed, a function-call round trip and structured output.
 */
type Upstream = "gemini" | "openai"
const UPSTREAMS: ReadonlyArray<Upstream> = ["gemini", "openai"]
const GATEWAY_KEY = "gemini-compat-gateway-key"

const common = { ISARTOR__CACHE_MODE: "exact", ISARTOR__L3_RETRY_BASE_MS: "1", ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY }
const file = fakeUpstreamGateways({
  gemini: (providers) => ({
    env: { ISARTOR__LLM_PROVIDER: "gemini", ISARTOR__EXTERNAL_LLM_URL: providers.url, ...common }
  }),
  openai: { env: common }
}, { kind: "providers" })

const MODEL = "gemini-2.5-flash"
let sessions = 0
/** A client of the gateway with a session of its own, so that no two cases share cache entries. */
const client = (upstream: Upstream, apiKey = GATEWAY_KEY) =>
  new GoogleGenAI({
    apiKey,
    httpOptions: {
      baseUrl: file.gateways[upstream].url,
      headers: { "x-isartor-session-id": `gemini-compat-${++sessions}` },
      retryOptions: { attempts: 1 }
    }
  })
const layerOf = (response: { sdkHttpResponse?: { headers?: Record<string, string> } }) =>
  response.sdkHttpResponse?.headers?.["x-isartor-layer"]
const modelCalls = () => file.upstream.calls.filter((call) => !call.path.includes("countTokens")).length

const weather = {
  functionDeclarations: [{
    name: "get_weather",
    description: "The weather for a question",
    parameters: { type: Type.OBJECT, properties: { query: { type: Type.STRING } }, required: ["query"] }
  }]
}

for (const upstream of UPSTREAMS) {
  describe(`@google/genai through the gateway (${upstream}-format upstream)`, () => {
    it("answers a plain request with its system instruction and usage, then from L1a", async () => {
      const ai = client(upstream)
      const ask = () =>
        ai.models.generateContent({
          model: MODEL,
          contents: `What is a gateway? (${upstream})`,
          config: { systemInstruction: "Be brief." }
        })
      const first = await ask()
      assert.equal(first.text, answerTo(`What is a gateway? (${upstream})`, "Be brief."))
      assert.equal(first.candidates?.[0]?.finishReason, "STOP")
      assert.equal(first.usageMetadata?.promptTokenCount, PROMPT_TOKENS)
      assert.ok((first.usageMetadata?.candidatesTokenCount ?? 0) > 0)
      assert.equal(layerOf(first), "l3")
      const calls = modelCalls()
      const second = await ask()
      assert.equal(second.text, first.text)
      assert.equal(layerOf(second), "l1a")
      assert.equal(modelCalls(), calls, "the repeat never reached the upstream")
    })

    it("streams an answer as Gemini's SSE, usage and finish in the last chunk; a repeat streams from L1a", async () => {
      const ai = client(upstream)
      const prompt = `Tell me a story, word by word (${upstream})`
      const read = async () => {
        const chunks = []
        for await (const chunk of await ai.models.generateContentStream({ model: MODEL, contents: prompt })) {
          chunks.push(chunk)
        }
        return chunks
      }
      const chunks = await read()
      assert.ok(chunks.length > 1, "more than one chunk")
      assert.equal(chunks.map((chunk) => chunk.text ?? "").join(""), answerTo(prompt))
      assert.equal(chunks.at(-1)?.candidates?.[0]?.finishReason, "STOP")
      assert.equal(chunks.at(-1)?.usageMetadata?.promptTokenCount, PROMPT_TOKENS)
      const calls = modelCalls()
      const again = await read()
      assert.equal(again.map((chunk) => chunk.text ?? "").join(""), answerTo(prompt))
      assert.equal(modelCalls(), calls)
    })

    it("calls a function and answers from its result", async () => {
      const ai = client(upstream)
      const prompt = `Weather in Paris? (${upstream})`
      const first = await ai.models.generateContent({
        model: MODEL,
        contents: prompt,
        config: {
          tools: [weather],
          toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } }
        }
      })
      const call = first.functionCalls?.[0]
      assert.equal(call?.name, "get_weather")
      assert.deepEqual(call?.args, { query: prompt })
      if (upstream === "openai") {
        // Gemini's schema (`"type": "OBJECT"`) reached the OpenAI upstream as JSON Schema.
        const sent = file.upstream.calls.at(-1)!.body as { tools: Array<{ function: { parameters: unknown } }> }
        assert.deepEqual(sent.tools[0]!.function.parameters, {
          type: "object",
          properties: { query: { type: "string" } },
          required: ["query"]
        })
      }
      const second = await ai.models.generateContent({
        model: MODEL,
        contents: [
          { role: "user", parts: [{ text: prompt }] },
          { role: "model", parts: first.candidates![0]!.content!.parts! },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { output: "sunny" } } }] }
        ],
        config: { tools: [weather] }
      })
      assert.equal(second.text, "Tool said: sunny")
    })

    it("asks for structured output with a response schema", async () => {
      const ai = client(upstream)
      const responseSchema = { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] }
      await ai.models.generateContent({
        model: MODEL,
        contents: `Which city? (${upstream})`,
        config: { responseMimeType: "application/json", responseSchema }
      })
      const sent = file.upstream.calls.at(-1)!
      if (upstream === "gemini") {
        assert.deepEqual((sent.body.generationConfig as Record<string, unknown>).responseSchema, responseSchema)
      } else {
        assert.deepEqual(sent.body.response_format, {
          type: "json_schema",
          json_schema: {
            name: "response",
            schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
          }
        })
      }
    })

    it("refuses a wrong key with Google's error, which the SDK raises as an ApiError", async () => {
      const error = await client(upstream, "not-the-gateway-key").models.generateContent({
        model: MODEL,
        contents: "Hello?"
      }).then(() => assert.fail("expected an error"), (e: unknown) => e)
      assert.ok(error instanceof ApiError, String(error))
      assert.equal(error.status, 401)
      assert.match(error.message, /invalid gateway API key/)
      assert.match(error.message, /UNAUTHENTICATED/)
    })

    it("counts tokens and lists the gateway's model", async () => {
      const ai = client(upstream)
      const counted = await ai.models.countTokens({ model: MODEL, contents: "How many tokens is this?" })
      assert.ok((counted.totalTokens ?? 0) > 0)
      const listed = []
      for await (const model of await ai.models.list()) listed.push(model.name)
      assert.ok(listed.length > 0)
      assert.ok(listed.every((name) => name?.startsWith("models/")), JSON.stringify(listed))
    })
  })
}

describe("the Gemini API on the wire", () => {
  it("passes a Gemini client's body to a gemini provider byte for byte, the model from the path", async () => {
    const raw = `{"contents":[{"role":"user","parts":[{"text":"Exactly these bytes"}]}],` +
      `"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}],  "x":1}`
    const response = await fetch(`${file.gateways.gemini.url}/v1beta/models/gemini-2.5-pro:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": GATEWAY_KEY },
      body: raw
    })
    assert.equal(response.status, 200)
    const call = file.upstream.calls.at(-1)!
    assert.equal(call.raw, raw)
    assert.equal(call.path, "/v1beta/models/gemini-2.5-pro:generateContent")
    assert.equal(call.headers["x-goog-api-key"], TEST_PROVIDER_KEY, "the provider's key, never the caller's")
  })

  it("takes the caller's key from ?key= and scopes the caches by it", async () => {
    const url = `${file.gateways.openai.url}/v1beta/models/${MODEL}:generateContent`
    const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Scoped by ?key=" }] }] })
    const ask = (key: string) =>
      fetch(`${url}?key=${key}`, { method: "POST", headers: { "content-type": "application/json" }, body })
    const refused = await ask("wrong")
    assert.equal(refused.status, 401)
    assert.deepEqual((await refused.json() as { error: { status: string } }).error.status, "UNAUTHENTICATED")
    const first = await ask(GATEWAY_KEY)
    assert.equal(first.status, 200)
    assert.equal(first.headers.get("x-isartor-layer"), "l3")
    const second = await ask(GATEWAY_KEY)
    assert.equal(second.headers.get("x-isartor-layer"), "l1a")
    // The same key in the header is the same caller.
    const header = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": GATEWAY_KEY },
      body
    })
    assert.equal(header.headers.get("x-isartor-layer"), "l1a")
  })

  it("counts Gemini's routes in /metrics under the route, the model in the path as {model}", async () => {
    const gateway = file.gateways.openai
    const body = JSON.stringify({
      contents: [{ role: "user", parts: [{ text: "Which route is this counted under?" }] }]
    })
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${gateway.url}/v1beta/models/${MODEL}:generateContent`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-goog-api-key": GATEWAY_KEY },
        body
      })
      assert.equal(response.status, 200)
    }
    const metrics = await (await fetch(`${gateway.url}/metrics`, { headers: { "x-api-key": GATEWAY_KEY } })).text()
    const route = "/v1beta/models/{model}:generateContent"
    const requests = (layer: string) =>
      metrics.split("\n").find((line) =>
        line.startsWith("isartor_requests_total{") && line.includes(`endpoint="${route}"`) &&
        line.includes(`final_layer="${layer}"`) && line.includes(`status="200"`)
      )
    assert.ok(Number(requests("L1a_ExactCache")?.split(" ").pop()) >= 1, metrics)
    assert.ok(Number(requests("L3_Cloud")?.split(" ").pop()) >= 1, metrics)
    assert.ok(!metrics.includes(MODEL), "the model in the path is not a label")
  })

  it("answers a bad body in Google's error shape", async () => {
    const response = await fetch(`${file.gateways.openai.url}/v1beta/models/${MODEL}:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": GATEWAY_KEY },
      body: JSON.stringify({ contents: [] })
    })
    assert.equal(response.status, 400)
    const { error } = await response.json() as { error: { code: number; message: string; status: string } }
    assert.equal(error.code, 400)
    assert.equal(error.status, "INVALID_ARGUMENT")
    assert.match(error.message, /contents/)
  })
})
