import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { type RunningGateway, semanticGateways } from "../support/gateway.ts"

// A caller who got a wrong L1b answer says so: the entry stops answering other questions (its own question is still
// answered exactly), and /health counts what callers reported.

const model = await loadUseLite({ fast: true })
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }
const { withGateway } = semanticGateways(backends)

const ask = async (gateway: RunningGateway, prompt: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", headers, body: JSON.stringify({ prompt }) })
  await response.arrayBuffer()
  return { layer: response.headers.get("x-isartor-layer"), key: response.headers.get("x-isartor-cache-key") }
}

const feedback = (gateway: RunningGateway, id: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/v1/cache/${id}/feedback`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })

const l1bHealth = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as {
    layers: { l1b: { reported_wrong: number; reported_correct: number; entries_stopped_serving: number } }
  }).layers.l1b

describe("feedback on an L1b answer", () => {
  it("a wrong answer reported turns its entry off for other questions; its own question still gets it", async () => {
    await withGateway({}, async (gateway) => {
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const hit = await ask(gateway, "How can I reset my password?")
      assert.equal(hit.layer, "l1b")
      assert.match(hit.key ?? "", /^l1b_/)

      const refused = await feedback(gateway, hit.key!, { correct: false }, { "x-isartor-session-id": "someone-else" })
      assert.equal(refused.status, 404, "another caller's entry is not found")
      assert.equal((await feedback(gateway, hit.key!, { correct: "no" })).status, 400)
      const good = await feedback(gateway, hit.key!, { correct: true })
      assert.equal(good.status, 200)
      assert.equal((await ask(gateway, "how can i reset my password")).layer, "l1b", "reported right: still serves")

      const wrong = await feedback(gateway, hit.key!, { correct: false })
      assert.equal(wrong.status, 200, await wrong.clone().text())
      assert.deepEqual(await wrong.json(), { id: hit.key, correct: false, recorded: true })
      assert.equal((await ask(gateway, "How could I reset my password?")).layer, "l3", "the entry no longer answers")
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l1a", "its own question, exactly")
      assert.deepEqual(await l1bHealth(gateway), {
        ...(await l1bHealth(gateway)),
        reported_wrong: 1,
        reported_correct: 1,
        entries_stopped_serving: 1
      })
    })
  })

  it("feedback on an exact-cache entry is a 400; deleting an entry that answered others counts as a wrong answer", async () => {
    await withGateway({}, async (gateway) => {
      const first = await ask(gateway, "What is the capital of Australia?")
      const exact = await ask(gateway, "What is the capital of Australia?")
      assert.equal(exact.layer, "l1a")
      assert.match(exact.key ?? "", /^l1a_/)
      const refused = await feedback(gateway, exact.key!, { correct: false })
      assert.equal(refused.status, 400)
      assert.match(await refused.text(), /feedback is for L1b answers/)

      const hit = await ask(gateway, "What's the capital city of Australia?")
      assert.equal(hit.layer, "l1b", JSON.stringify(first))
      assert.equal((await fetch(`${gateway.url}/v1/cache/${hit.key}`, { method: "DELETE" })).status, 200)
      assert.equal((await l1bHealth(gateway)).reported_wrong, 1)
    })
  })
})
