import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// The headers that change an answer (`anthropic-beta`, `anthropic-version`) scope both caches: the same question,
// or one in other words, under another beta or version is asked upstream, never served the other's answer.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

const file = fakeUpstreamGateway({
  env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__CACHE_MODE: "both" },
  semantic: backends
}, { kind: "providers" })

/** Versions the fake Anthropic API accepts, as the real one would. */
const VERSION = "2023-06-01"
const OTHER_VERSION = "2026-10-21"
const BETA = "context-management-2025-06-27"

/** An Anthropic Messages request; the body's bytes depend only on the question, so a repeat can take the hot lane. */
const ask = async (question: string, headers: Record<string, string>) => {
  const response = await fetch(`${file.gateway.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "caller-key", ...headers },
    body: JSON.stringify({
      model: "claude-sonnet-4-5",
      max_tokens: 256,
      messages: [{ role: "user", content: question }]
    })
  })
  assert.equal(response.status, 200, await response.clone().text())
  await response.arrayBuffer()
  return response.headers.get("x-isartor-layer")
}

describe("answer-changing headers in both cache keys", () => {
  it("a question under another beta or version is asked upstream, by L1a and by L1b", async () => {
    const asked = { "anthropic-version": VERSION, "anthropic-beta": BETA }
    const question = "How do I reset my router?"
    assert.equal(await ask(question, asked), "l3")
    assert.equal(await ask(question, asked), "l1a", "the same bytes and headers: an exact hit")
    // The same bytes: the first-level keys (the hot lane) must not carry them across headers either.
    assert.equal(await ask(question, { ...asked, "anthropic-version": OTHER_VERSION }), "l3", "another version")
    assert.equal(await ask(question, { "anthropic-version": VERSION }), "l3", "no beta")

    assert.equal(await ask("How can I reset my router?", asked), "l1b", "a paraphrase, same headers")
    assert.equal(
      await ask("How can I reset my router?", { ...asked, "anthropic-beta": "prompt-caching-2024-07-31" }),
      "l3",
      "a paraphrase under another beta"
    )
    assert.equal(
      await ask("How could I reset my router?", { "anthropic-version": OTHER_VERSION }),
      "l3",
      "a paraphrase under another version"
    )
    assert.equal(await ask(question, asked), "l1a", "the first answer still serves its own headers")

    const upstream = file.upstream.calls.map((
      call
    ) => [call.headers["anthropic-beta"], call.headers["anthropic-version"]])
    assert.deepEqual(upstream, [
      [BETA, VERSION],
      [BETA, OTHER_VERSION],
      [undefined, VERSION],
      ["prompt-caching-2024-07-31", VERSION],
      [undefined, OTHER_VERSION]
    ])
  })
})
