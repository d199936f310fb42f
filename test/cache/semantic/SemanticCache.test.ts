import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { verify } from "../../../core/cache/semantic/SemanticVerifier.ts"
import { Embedder, type EmbeddingBackend } from "../../../core/embedding/Embedder.ts"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../../../runtimes/embedding/inWorker.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import { askNative as native, semanticGateways } from "../../support/gateway.ts"
import { makeMovableClock } from "../../support/movableClock.ts"

// The real model and the real HNSW library, loaded once for the file.
const realModel = await loadUseLite()
const hnswlib = await loadHnswlib()
let embedderFails = false
const switchable: EmbeddingBackend = {
  ...realModel,
  embed: (texts) => (embedderFails ? Promise.reject(new Error("embedder crashed")) : realModel.embed(texts))
}
const backends: SemanticBackends = { loadEmbedder: async () => switchable, loadHnswlib: async () => hnswlib }

const { withGateway } = semanticGateways(backends)

describe("Embedder (USE-lite)", () => {
  it("returns normalised 512-d vectors that put a paraphrase closer than an unrelated question", async () => {
    const [a, b, c] = await realModel.embed([
      "How do I reset my password?",
      "How can I change my password?",
      "What is the boiling point of water?"
    ])
    const dot = (x: Float32Array, y: Float32Array) => x.reduce((sum, v, i) => sum + v * y[i]!, 0)
    assert.equal(a!.length, 512)
    assert.ok(Math.abs(dot(a!, a!) - 1) < 1e-4)
    assert.ok(dot(a!, b!) > 0.85)
    assert.ok(dot(a!, b!) > dot(a!, c!) + 0.3)
  })
})

describe("Embedder micro-batching", () => {
  it("embeds concurrent requests in one backend call, each distinct text once", async () => {
    const calls: Array<ReadonlyArray<string>> = []
    const counting: EmbeddingBackend = { ...realModel, embed: (texts) => (calls.push(texts), realModel.embed(texts)) }
    const embedder = Embedder.make(counting)
    const texts = ["Where is my order?", "Where is my order?", "How do I reset my password?", "Where is my order?"]
    const vectors = await Promise.all(texts.map((text) => Effect.runPromise(embedder.embed(text))))
    assert.equal(calls.length, 1)
    assert.deepEqual([...calls[0]!].sort(), ["How do I reset my password?", "Where is my order?"])
    assert.deepEqual(vectors[0], vectors[1])
    assert.notDeepEqual(vectors[0], vectors[2])
  })
})

describe("Embedder on a worker thread", () => {
  it("loads the model on a worker thread and returns the same vectors as in-process", async () => {
    const worker = await loadEmbedderInWorker(new URL("../../../runtimes/embedding/worker-node.mjs", import.meta.url))
    try {
      const fromWorker = await worker.embed(["How do I reset my password?", "Where is my parcel?"])
      const inProcess = await realModel.embed(["How do I reset my password?", "Where is my parcel?"])
      assert.equal(fromWorker.length, 2)
      fromWorker.forEach((vector, n) =>
        vector.forEach((value, i) => assert.ok(Math.abs(value - inProcess[n]![i]!) < 1e-5))
      )
    } finally {
      await worker.dispose?.()
    }
  })
})

describe("verifier", () => {
  it("refuses candidates that differ in numbers, negation or names in code, and keeps real paraphrases", () => {
    assert.equal(verify("How do I reset my password?", "How can I reset my password?", 0.95).accept, true)
    assert.equal(verify("Is 17 a prime number?", "Is 19 a prime number?", 0.97).accept, false)
    assert.equal(verify("Why is my build not working?", "Why is my build working?", 0.95).accept, false)
    assert.equal(verify("How do I use load_from_disk()?", "How do I use save_to_disk()?", 0.95).accept, false)
  })

  it("refuses a proper name swapped for another, and accepts one that only adds context", () => {
    const swapped = verify(
      "Which intersections in Seattle are dangerous?",
      "Which intersections in Atlanta are dangerous?",
      0.96
    )
    assert.deepEqual(swapped, { accept: false, reason: "proper names differ" })
    assert.equal(verify("How do I sort a list in Python?", "How do I sort a list in Rust?", 0.95).accept, false)
    assert.equal(verify("Was Hillary disbarred?", "Is Hillary Clinton disbarred?", 0.93).accept, true)
    assert.equal(
      verify("What is the best app to learn Spanish?", "What is the best app to learn spanish?", 0.99).accept,
      true
    )
  })

  it("finds the same name in code however it is written, and refuses another", () => {
    // Quoted in one, plain in the other; an acronym for its words.
    assert.equal(
      verify("What does the `Table` class's `to_batches` method return?", "What does Table.to_batches return?", 0.93)
        .accept,
      true
    )
    assert.equal(
      verify(
        "Huggingface.js is a set of JS libraries with TS types",
        "Hugging Face.js is a set of JavaScript libraries with TypeScript types",
        0.9
      ).accept,
      true
    )
    assert.equal(
      verify("How do I export a DataFrame to CSV?", "How do I export a DataFrame to csv?", 0.99).accept,
      true
    )
    assert.equal(
      verify("How do I call `load_dataset` offline?", "How do I call `load_metric` offline?", 0.95).accept,
      false
    )
  })

  it("reads negation said without 'not'", () => {
    assert.equal(
      verify("How do I load a dataset in non-streaming mode?", "How do I load a dataset in streaming mode?", 0.95)
        .accept,
      false
    )
    assert.equal(
      verify("What happens in the absence of a config file?", "What happens with a config file?", 0.9).accept,
      false
    )
  })
})

describe("L1b semantic cache", () => {
  it("answers a paraphrase from L1b with its similarity, and an unrelated question from upstream", async () => {
    await withGateway({}, async (gateway) => {
      assert.equal((await native(gateway, "How do I reset my password?")).layer, "l3")
      const paraphrase = await native(gateway, "How can I reset my password?")
      assert.equal(paraphrase.layer, "l1b")
      assert.ok(Number(paraphrase.similarity) >= 0.85)
      assert.equal(paraphrase.body.message, "Answer #1 to: How do I reset my password?")
      assert.equal((await native(gateway, "What is the capital of Australia?")).layer, "l3")
    })
  })

  it("honours X-Isartor-Similarity-Threshold per request and rejects a bad one", async () => {
    await withGateway({}, async (gateway) => {
      await native(gateway, "How do I reset my password?")
      assert.equal(
        (await native(gateway, "How can I reset my password?", { "x-isartor-similarity-threshold": "0.999" })).layer,
        "l3"
      )
      const bad = await fetch(`${gateway.url}/api/chat`, {
        method: "POST",
        headers: { "x-isartor-similarity-threshold": "2" },
        body: JSON.stringify({ prompt: "x" })
      })
      assert.equal(bad.status, 400)
    })
  })

  it("never answers across scopes: other tenant, model, system prompt or history", async () => {
    await withGateway({}, async (gateway) => {
      const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const base = [{ role: "system" as const, content: "You are a support bot." }, {
        role: "user" as const,
        content: "I use the mobile app."
      }, { role: "assistant" as const, content: "Noted." }]
      const ask = (messages: Array<OpenAI.ChatCompletionMessageParam>, model = "gpt-4o-mini", key = "tenant-a") =>
        client(key).chat.completions.create({ model, messages }).withResponse().then(({ response }) =>
          response.headers.get("x-isartor-layer")
        )
      assert.equal(await ask([...base, { role: "user", content: "How old is he?" }]), "l3")
      assert.equal(
        await ask([...base, { role: "user", content: "How old is he now?" }]),
        "l1b",
        "same scope, paraphrase"
      )
      assert.equal(
        await ask([...base, { role: "user", content: "How old is he now?" }], "gpt-4o-mini", "tenant-b"),
        "l3",
        "other tenant"
      )
      assert.equal(await ask([...base, { role: "user", content: "How old is he now?" }], "gpt-4o"), "l3", "other model")
      assert.equal(
        await ask([{ role: "system", content: "You are a pirate." }, ...base.slice(1), {
          role: "user",
          content: "How old is he now?"
        }]),
        "l3",
        "other system prompt"
      )
      assert.equal(
        await ask([base[0]!, { role: "user", content: "I use the website." }, base[2]!, {
          role: "user",
          content: "How old is he now?"
        }]),
        "l3",
        "other history"
      )
    })
  })

  it("skips L1b for requests with tools", async () => {
    await withGateway({}, async (gateway) => {
      const client = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const tools = [{
        type: "function" as const,
        function: { name: "lookup", parameters: { type: "object", properties: {} } }
      }]
      await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Where is my order?" }],
        tools
      })
      const again = await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Where is my order now?" }],
        tools
      }).withResponse()
      assert.equal(again.response.headers.get("x-isartor-layer"), "l3")
    })
  })

  it("evicts the least recently used entries from the index (LRU) and expires them (TTL)", async () => {
    const time = makeMovableClock()
    await withGateway({ ISARTOR__CACHE_MAX_CAPACITY: "2", ISARTOR__CACHE_TTL_SECS: "60" }, async (gateway) => {
      await native(gateway, "How do I reset my password?")
      await native(gateway, "What is the capital of Australia?")
      await native(gateway, "How many legs does a spider have?")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as {
        layers: { l1b: { entries: number } }
      }
      assert.equal(health.layers.l1b.entries, 2, "the index holds no more than the cache")
      assert.equal((await native(gateway, "How can I reset my password?")).layer, "l3", "the evicted question is gone")
      time.advance(59_999)
      assert.equal((await native(gateway, "How many legs do spiders have?")).layer, "l1b", "held within the TTL")
      time.advance(2)
      assert.equal((await native(gateway, "How many legs do spiders have?")).layer, "l3", "expired")
    }, { clock: time.clock })
  })

  it("falls through to upstream when the embedder fails at runtime, and the request succeeds", async () => {
    await withGateway({}, async (gateway) => {
      await native(gateway, "How do I reset my password?")
      embedderFails = true
      try {
        const answer = await native(gateway, "How can I reset my password?")
        assert.equal(answer.layer, "l3")
        assert.equal(answer.body.message, "Answer #1 to: How can I reset my password?")
        const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { status: string } } }
        assert.equal(health.layers.l1b.status, "unavailable")
      } finally {
        embedderFails = false
      }
    })
  })

  it("follows cache_mode: exact never answers from L1b, semantic answers even identical requests from L1b", async () => {
    await withGateway({ ISARTOR__CACHE_MODE: "exact" }, async (gateway) => {
      await native(gateway, "How do I reset my password?")
      assert.equal((await native(gateway, "How can I reset my password?")).layer, "l3")
      assert.equal((await native(gateway, "How do I reset my password?")).layer, "l1a")
    })
    await withGateway({ ISARTOR__CACHE_MODE: "semantic" }, async (gateway) => {
      await native(gateway, "How do I reset my password?")
      assert.equal((await native(gateway, "How do I reset my password?")).layer, "l1b")
    })
  })

  it("serves a streamed request from L1b as valid SSE", async () => {
    await withGateway({}, async (gateway) => {
      const client = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      await client.chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "How do I reset my password?" }]
      })
      const { data: stream, response } = await client.chat.completions
        .create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "How can I reset my password?" }],
          stream: true
        })
        .withResponse()
      assert.equal(response.headers.get("x-isartor-layer"), "l1b")
      let text = ""
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
      assert.equal(text, "Answer #1 to: How do I reset my password?")
    })
  })
})
