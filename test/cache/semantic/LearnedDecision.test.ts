import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { describe, it } from "node:test"
import { QQP_DEV, readPairs, sourcesDigest } from "../../../bench/l1bData.ts"
import { shippedDecision } from "../../../core/cache/semantic/decision/weights.ts"
import type { EmbeddingBackend } from "../../../core/embedding/Embedder.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { shippedStaticTable } from "../../../runtimes/embedding/staticTable.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import { askNative as ask, semanticGateways } from "../../support/gateway.ts"

// USE-lite with its shipped fast stage; every call of the full model is counted: the learned decision makes none.
const model = await loadUseLite({ fast: true })
const hnswlib = await loadHnswlib()
let modelCalls = 0
const counted: EmbeddingBackend = {
  ...model,
  embed: (texts) => {
    modelCalls += texts.length
    return model.embed(texts)
  }
}
const backends: SemanticBackends = { loadEmbedder: async () => counted, loadHnswlib: async () => hnswlib }
const { withGateway } = semanticGateways(backends)

describe("the shipped L1b decision", () => {
  it("was trained on the current training sources (run npm run train:l1b after changing them)", async () => {
    assert.equal(shippedDecision.sources, await sourcesDigest(new URL("../../../", import.meta.url)))
    assert.equal(shippedDecision.encoder, shippedStaticTable.encoder, "the scorer and the table come from one run")
  })

  // The labelled pairs are not part of the repository (they are the project's shared data set, beside it in
  // ../shared/data): where they are not beside the checkout, this is a skip that says so, never a quiet pass.
  it("was trained on the labelled pairs in ../shared/data", {
    skip: existsSync(QQP_DEV)
      ? false
      : `${QQP_DEV} is not beside this checkout (the data set is not part of the repository)`
  }, async () => {
    assert.equal(shippedDecision.dataset, (await readPairs()).digest)
  })
})

describe("L1b learned decision (the default)", () => {
  it("answers a reworded question from the fast encoder with its score, and never calls the model", async () => {
    await withGateway({}, async (gateway) => {
      modelCalls = 0
      assert.equal((await ask(gateway, "How do I reset my password?")).layer, "l3")
      const hit = await ask(gateway, "How can I reset my password?")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "fast")
      assert.ok(hit.score >= shippedDecision.threshold && hit.score <= 1, `X-Isartor-L1b-Score ${hit.score}`)
      assert.ok(hit.similarity > 0 && hit.similarity <= 1, `X-Isartor-Similarity ${hit.similarity}`)
      assert.equal(hit.body.message, "Answer #1 to: How do I reset my password?")
      const lower = await ask(gateway, "how can i reset my password")
      assert.equal(lower.layer, "l1b", "case and punctuation do not make another question")
      assert.equal((await ask(gateway, "What is the capital of Australia?")).layer, "l3")
      assert.equal(modelCalls, 0, "neither lookups nor stores ran the full model")
    })
  })

  it("refuses a related question that is not the same one: another language, another number", async () => {
    await withGateway({}, async (gateway) => {
      assert.equal((await ask(gateway, "How do I learn Python?")).layer, "l3")
      assert.equal((await ask(gateway, "How do I learn Java?")).layer, "l3")
      assert.equal((await ask(gateway, "How many vacation days do I get in 2024?")).layer, "l3")
      assert.equal((await ask(gateway, "How many vacation days do I get in 2025?")).layer, "l3")
    })
  })

  it("never serves a pair it refuses outright (numbers, negation), even at l1b_score_threshold = 0", async () => {
    await withGateway({ ISARTOR__L1B_SCORE_THRESHOLD: "0" }, async (gateway) => {
      assert.equal((await ask(gateway, "How many vacation days do I get in 2024?")).layer, "l3")
      assert.equal((await ask(gateway, "How many vacation days do I get in 2025?")).layer, "l3", "another number")
      assert.equal((await ask(gateway, "Can I cancel my order after it ships?")).layer, "l3")
      assert.equal((await ask(gateway, "Can I not cancel my order after it ships?")).layer, "l3", "negated")
      assert.equal((await ask(gateway, "how many vacation days do i get in 2024")).layer, "l1b", "the same question")
    })
  })

  it("keeps scopes apart", async () => {
    await withGateway({}, async (gateway) => {
      await ask(gateway, "How do I export my contacts to a spreadsheet?", { "x-isartor-session-id": "alice" })
      assert.equal(
        (await ask(gateway, "how do I export my contacts to a spreadsheet", { "x-isartor-session-id": "bob" })).layer,
        "l3",
        "another session's entry is never served"
      )
      const same = await ask(gateway, "how do I export my contacts to a spreadsheet", {
        "x-isartor-session-id": "alice"
      })
      assert.equal(same.layer, "l1b")
    })
  })

  it("follows l1b_score_threshold, and X-Isartor-Similarity-Threshold raises the cosine floor for one request", async () => {
    await withGateway({ ISARTOR__L1B_SCORE_THRESHOLD: "1" }, async (gateway) => {
      await ask(gateway, "How do I reset my password?")
      assert.equal((await ask(gateway, "How can I reset my password?")).layer, "l3", "no score reaches 1")
    })
    await withGateway({}, async (gateway) => {
      await ask(gateway, "How do I reset my password?")
      const strict = await ask(gateway, "How can I reset my password?", { "x-isartor-similarity-threshold": "0.9999" })
      assert.equal(strict.layer, "l3")
      assert.equal((await ask(gateway, "how could i reset my password")).layer, "l1b")
    })
  })

  it("reports its encoder and decision on /health, and l1b_decision = cosine brings the model back", async () => {
    await withGateway({}, async (gateway) => {
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as {
        layers: { l1b: { encoder: string; decision: string } }
      }
      assert.equal(health.layers.l1b.encoder, shippedDecision.encoder)
      assert.match(health.layers.l1b.decision, new RegExp(`^learned ${shippedDecision.version}`))
    })
    await withGateway({ ISARTOR__L1B_DECISION: "cosine", ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" }, async (gateway) => {
      modelCalls = 0
      await ask(gateway, "How do I rotate the access keys of my project?")
      const hit = await ask(gateway, "how do i rotate the access keys of my project")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "model")
      assert.ok(Number.isNaN(hit.score), "no learned score without the learned decision")
      assert.ok(modelCalls > 0)
    })
  })
})
