import { EmbeddingsModel } from "@energetic-ai/embeddings"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { EmbeddingBackend } from "../../../core/embedding/Embedder.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../../../runtimes/embedding/inWorker.ts"
import { shippedStaticTable } from "../../../runtimes/embedding/staticTable.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import { loadVocabulary, pieceTokenizer } from "../../../runtimes/embedding/useLiteStatic.ts"
import { eventually } from "../../support/eventually.ts"
import { askNative as ask, semanticGateways } from "../../support/gateway.ts"

// USE-lite with its shipped static distillation, and counters on both encoders. These tests are of the cosine
// decision (l1b_decision = cosine), whose first stage the fast encoder is; LearnedDecision.test.ts has the default.
const model = await loadUseLite({ fast: true })
const hnswlib = await loadHnswlib()
let modelCalls = 0
let fastReady = true
const counted: EmbeddingBackend = {
  ...model,
  embed: (texts) => {
    modelCalls += texts.length
    return model.embed(texts)
  },
  fast: (text) => (fastReady ? model.fast!(text) : undefined)
}
const backends: SemanticBackends = { loadEmbedder: async () => counted, loadHnswlib: async () => hnswlib }

const gateways = semanticGateways(backends)
const withGateway = (extra: Record<string, string>, run: Parameters<typeof gateways.withGateway>[1]) =>
  gateways.withGateway({ ISARTOR__L1B_DECISION: "cosine", ...extra }, run)

describe("L1b fast first stage of the cosine decision (static distillation of USE-lite)", () => {
  it("answers a close rephrasing without running the model", async () => {
    await withGateway({}, async (gateway) => {
      assert.equal((await ask(gateway, "How do I configure the billing address of my account?")).layer, "l3")
      const before = modelCalls
      const hit = await ask(gateway, "how do i configure the billing address of my account")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "fast")
      assert.ok(hit.similarity >= 0.93, String(hit.similarity))
      assert.equal(hit.body.message, "Answer #1 to: How do I configure the billing address of my account?")
      assert.equal(modelCalls, before, "the full model was not called")
    })
  })

  it("keeps scopes apart and the verifier's rules on the fast path", async () => {
    await withGateway({ ISARTOR__GATEWAY_API_KEY: "gw-key-0123456789abcdef" }, async (gateway) => {
      const key = (k: string) => ({ authorization: `Bearer ${k}` })
      assert.equal(
        (await ask(gateway, "How many vacation days do I get in 2024?", key("gw-key-0123456789abcdef"))).layer,
        "l3"
      )
      const otherNumber = await ask(gateway, "How many vacation days do I get in 2025?", key("gw-key-0123456789abcdef"))
      assert.notEqual(otherNumber.layer, "l1b", "a different number is a different question, however close the vectors")
    })
    await withGateway({}, async (gateway) => {
      assert.equal(
        (await ask(gateway, "How do I export my contacts to a spreadsheet?", { "x-isartor-session-id": "alice" }))
          .layer,
        "l3"
      )
      assert.equal(
        (await ask(gateway, "how do I export my contacts to a spreadsheet", { "x-isartor-session-id": "bob" })).layer,
        "l3",
        "another session's entry is never served"
      )
      const sameSession = await ask(gateway, "how do I export my contacts to a spreadsheet", {
        "x-isartor-session-id": "alice"
      })
      assert.equal(sameSession.stage, "fast", "while the same session gets it from the fast stage")
    })
  })

  it("is off at semantic_fast_threshold = 1: the model decides every hit", async () => {
    await withGateway({ ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" }, async (gateway) => {
      await ask(gateway, "How do I rotate the access keys of my project?")
      const hit = await ask(gateway, "how do i rotate the access keys of my project")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.stage, "model")
    })
  })

  it("indexes entries cached before the fast encoder was ready, once it is", async () => {
    fastReady = false
    try {
      await withGateway({}, async (gateway) => {
        await ask(gateway, "How do I delete a webhook from the dashboard?")
        fastReady = true
        // The first lookup after readiness starts the catch-up, in the background; a later one finds the entry on
        // the fast path.
        await ask(gateway, "how do i delete a webhook from the dashboard")
        await eventually(
          async () => (await ask(gateway, "How do I delete a webhook from the dashboard ?")).stage === "fast",
          {
            what: "the entry cached before the fast encoder was ready to be found on the fast path",
            intervalMs: 25
          }
        )
      })
    } finally {
      fastReady = true
    }
  })
})

describe("the fast stage's shipped table", () => {
  it("is on the gateway's thread as soon as the embedding worker is ready: the same vectors as in-process, nothing built", async (t) => {
    const started = performance.now()
    const worker = await loadEmbedderInWorker(new URL("../../../runtimes/embedding/worker-node.mjs", import.meta.url), {
      model: "use-lite",
      modelPath: "",
      cacheDir: ""
    })
    try {
      const question = "How do I export my contacts to a spreadsheet?"
      assert.ok(worker.fast!(question), "ready with the worker, not seconds later")
      assert.deepEqual(worker.fast!(question), model.fast!(question))
      assert.equal(worker.fastStage?.encoder, model.fastStage?.encoder)
      assert.equal(worker.fastStage?.dimensions, shippedStaticTable.dimensions)
      t.diagnostic(`worker with its fast stage ready in ${(performance.now() - started).toFixed(0)} ms`)
    } finally {
      await worker.dispose?.()
    }
  })

  it("reads text case-insensitively, as a reworded prompt often differs in case only", () => {
    const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * b[i]!, 0)
    const a = model.fast!("What is the capital of France?")!
    assert.equal(cosine(a, model.fast!("WHAT IS THE CAPITAL OF FRANCE?")!).toFixed(6), "1.000000")
    assert.ok(cosine(a, model.fast!("what's the capital of france")!) > 0.9)
  })

  it("splits a text into the pieces USE-lite's own tokenizer gives, word by word and remembered", async () => {
    const vocabulary = await loadVocabulary()
    const packaged = new EmbeddingsModel({
      vocabulary,
      model: undefined as unknown as ConstructorParameters<typeof EmbeddingsModel>[0]["model"]
    }).tokenizer
    const tokenizer = pieceTokenizer(vocabulary)
    const texts = [
      "How do I export my contacts to a spreadsheet?",
      // Pieces the vocabulary file gives no score ("▁:", ":"): a first word splits otherwise than a later one.
      ": a colon first",
      "Summer Internships : How can I find housing in Seattle?",
      "Cheers :) :-/ and 10:00 at https://example.com/a_b?c=1",
      "tabs\tand\nnew lines, `load_from_disk()` and camelCase",
      // The package's own path: several spaces, a space at either end, non-ASCII.
      "two  spaces",
      " leading and trailing ",
      "naïve café — déjà vu",
      ""
    ]
    for (const round of [1, 2]) {
      for (const text of texts) {
        assert.deepEqual(tokenizer.encode(text), packaged.encode(text), `${JSON.stringify(text)}, round ${round}`)
      }
    }
  })
})
