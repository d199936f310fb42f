import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway, TEST_PROVIDER_KEY } from "../support/gateway.ts"

// `:streamGenerateContent` without `alt=sse`: Gemini's other stream framing, one JSON array written as it comes.

let providers: FakeProviders
let gateway: RunningGateway
before(async () => {
  providers = await startFakeProviders(TEST_PROVIDER_KEY)
  gateway = await startTestGateway({
    ISARTOR__LLM_PROVIDER: "gemini",
    ISARTOR__EXTERNAL_LLM_URL: providers.url,
    ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
    ISARTOR__CACHE_MODE: "exact"
  })
})
after(async () => {
  await gateway.close()
  await providers.close()
})

type GeminiResponse = {
  candidates?: Array<{ content?: { parts?: Array<{ text?: string }> }; finishReason?: string }>
  usageMetadata?: { totalTokenCount?: number }
}

const stream = (query: string, text: string) =>
  fetch(`${gateway.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": "json-stream-caller" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text }] }] })
  })

const textOf = (responses: ReadonlyArray<GeminiResponse>) =>
  responses.map((response) => response.candidates?.[0]?.content?.parts?.map((part) => part.text ?? "").join("")).join(
    ""
  )

const sseResponses = async (response: Response) =>
  (await response.text()).split("\r\n\r\n").filter((event) => event !== "").map((event) =>
    JSON.parse(event.slice("data: ".length)) as GeminiResponse
  )

describe("Gemini's stream as a JSON array (no alt=sse)", () => {
  it("answers Gemini's responses in one JSON array, from L3 and then from L1a, the text the SSE stream has", async () => {
    const sse = await sseResponses(await stream("?alt=sse", "Frame me"))
    const array = async (text: string, layer: string) => {
      const response = await stream("", text)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get("x-isartor-layer"), layer)
      assert.match(response.headers.get("content-type") ?? "", /^application\/json/)
      const raw = await response.text()
      assert.ok(raw.startsWith("[{") && raw.endsWith("}]"), raw)
      const responses = JSON.parse(raw) as Array<GeminiResponse>
      assert.equal(responses.at(-1)!.candidates?.[0]?.finishReason, "STOP")
      assert.ok(responses.at(-1)!.usageMetadata?.totalTokenCount! > 0)
      return responses
    }
    const live = await array("Frame me as an array", "l3")
    assert.ok(live.length >= 2 && textOf(live).length > 0)
    const replayed = await array("Frame me", "l1a")
    assert.equal(textOf(replayed), textOf(sse))
  })

  it("a bad request is still Google's error shape", async () => {
    const response = await fetch(`${gateway.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "json-stream-caller" },
      body: JSON.stringify({ contents: [] })
    })
    assert.equal(response.status, 400)
    const { error } = await response.json() as { error: { status: string; message: string } }
    assert.equal(error.status, "INVALID_ARGUMENT")
    assert.match(error.message, /contents/)
  })
})
