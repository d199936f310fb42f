import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// A coding agent's request — a Claude Code turn of 164 KB, tools and a long history — through a gateway with both
// caches on: it reaches the upstream byte for byte, L1b never embeds it (a request with tools is the exact cache's
// alone), and the same request again is the exact cache's hit.

const model = await loadUseLite()
const embedded: Array<number> = []
const counted: typeof model = {
  ...model,
  embed: (texts) => {
    embedded.push(texts.length)
    return model.embed(texts)
  },
  fast: model.fast && ((text) => {
    embedded.push(1)
    return model.fast!(text)
  })
}
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => counted, loadHnswlib: async () => hnswlib }

const file = fakeUpstreamGateway({
  env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__CACHE_MODE: "both" },
  semantic: backends
}, { kind: "providers" })

const send = async (body: string) => {
  const request = agentRequest("claude", 164, "")
  const response = await fetch(`${file.gateway.url}${request.path}`, {
    method: "POST",
    headers: { ...request.headers, "content-type": "application/json", "x-api-key": "caller-key" },
    body
  })
  const text = await response.text()
  assert.equal(response.status, 200, text)
  return { layer: response.headers.get("x-isartor-layer"), text }
}

describe("a coding agent's request", () => {
  it("goes upstream byte for byte, is never embedded, and is an exact hit when sent again", async () => {
    const body = agentRequest("claude", 164, `turn ${Date.now()}`).body
    const before = embedded.length
    const first = await send(body)
    assert.equal(first.layer, "l3")
    assert.match(first.text, /event: message_stop/)
    assert.equal(file.upstream.calls.length, 1)
    assert.equal(file.upstream.calls[0]!.raw, body, "the upstream got the client's bytes")
    const again = await send(body)
    assert.equal(again.layer, "l1a")
    assert.equal(file.upstream.calls.length, 1, "the second was not asked upstream")
    // Another turn of the same session: new, so upstream again.
    const next = await send(agentRequest("claude", 164, `turn ${Date.now()} b`).body)
    assert.equal(next.layer, "l3")
    assert.deepEqual(embedded.slice(before), [], "L1b embedded nothing")
    // A plain question (no tools) is L1b's, and is embedded: the count above could have moved.
    await send(
      JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 64, messages: [{ role: "user", content: "hi" }] })
    )
    assert.notDeepEqual(embedded.slice(before), [])
  })

  it("sent with a byte-order mark, reaches the upstream as JSON without it", async () => {
    // Found by the 10,000-request fuzz: the gateway read the body without its mark, then sent the bytes with it.
    const body = agentRequest("claude", 164, `turn ${Date.now()} bom`).body
    const first = await send(`\uFEFF${body}`)
    assert.equal(first.layer, "l3")
    assert.equal(file.upstream.calls.at(-1)!.raw, body)
  })
})
