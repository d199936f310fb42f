import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// A request that asks the model to think is answered with thinking written for its prompt (signed, from Anthropic):
// L1b neither serves it a paraphrase's answer nor stores its answer for paraphrases. The exact cache still serves
// the same request again.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

const file = fakeUpstreamGateway({
  env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__CACHE_MODE: "both" },
  semantic: backends
}, { kind: "providers" })

type Client = "anthropic" | "openai" | "responses"

/** Whether the client asks for thinking, in its own API's words. */
const thinkingOf: Record<Client, Record<string, unknown>> = {
  anthropic: { thinking: { type: "enabled", budget_tokens: 2048 } },
  openai: { reasoning_effort: "medium" },
  responses: { reasoning: { effort: "medium" } }
}

/** One question from a client; which layer answered. */
const ask = async (client: Client, question: string, thinking: boolean) => {
  const extra = thinking ? thinkingOf[client] : {}
  const [path, body] = client === "anthropic"
    ? ["/v1/messages", {
      model: "claude-sonnet-4-5",
      max_tokens: 4096,
      messages: [{ role: "user", content: question }]
    }]
    : client === "openai"
    ? ["/v1/chat/completions", { model: "claude-sonnet-4-5", messages: [{ role: "user", content: question }] }]
    : ["/v1/responses", { model: "claude-sonnet-4-5", input: question }]
  const response = await fetch(`${file.gateway.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "authorization": "Bearer caller-key",
      "x-api-key": "caller-key",
      "anthropic-version": "2023-06-01"
    },
    body: JSON.stringify({ ...body, ...extra })
  })
  assert.equal(response.status, 200, await response.clone().text())
  await response.arrayBuffer()
  return response.headers.get("x-isartor-layer")
}

describe("requests with thinking skip L1b", () => {
  for (const client of ["anthropic", "openai", "responses"] as const) {
    it(`${client}: a paraphrase of a thinking request is asked upstream, never served from L1b`, async () => {
      const topic = `${client === "anthropic" ? "router" : client === "openai" ? "modem" : "printer"}`
      // Without thinking, the same client's paraphrase is an L1b hit: what the thinking request must not get.
      assert.equal(await ask(client, `How do I reset my ${topic}?`, false), "l3")
      assert.equal(await ask(client, `How can I reset my ${topic}?`, false), "l1b", "a paraphrase, no thinking")

      const question = `What is the best way to clean my ${topic}?`
      const before = file.upstream.calls.length
      assert.equal(await ask(client, question, true), "l3")
      assert.equal(await ask(client, question, true), "l1a", "the same request again: the exact cache serves it")
      assert.equal(await ask(client, `What's the best way to clean my ${topic}?`, true), "l3", "a paraphrase")
      assert.equal(await ask(client, `What is the best way of cleaning my ${topic}?`, true), "l3", "another one")
      assert.equal(file.upstream.calls.length - before, 3, "every paraphrase went upstream")
      const sent = file.upstream.calls.slice(before).map((call) =>
        (call.body.thinking as { type?: string } | undefined)?.type
      )
      assert.deepEqual(sent, ["enabled", "enabled", "enabled"], "thinking reached the upstream each time")
    })
  }
})
