import assert from "node:assert/strict"
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { fileURLToPath } from "node:url"
import type { EmbeddingBackend } from "../core/Embedder.ts"
import type { SemanticBackends } from "../core/Gateway.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../runtimes/embedding/inWorker.ts"
import { loadTransformers } from "../runtimes/embedding/transformers.ts"
import { type FakeOpenAI, startFakeOpenAI } from "./support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "./support/gateway.ts"

/** The tiny BERT-shaped ONNX model `npm run fixture:tiny-bert` generates (seeded random weights, real WordPiece). */
const fixture = fileURLToPath(new URL("./fixtures/tiny-bert", import.meta.url))
const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, value, i) => sum + value * b[i]!, 0)

const hnswlib = await loadHnswlib()
const transformersBackends: SemanticBackends = {
  loadEmbedder: (choice) => loadTransformers({ ...choice, cacheDir: "" }),
  loadHnswlib: async () => hnswlib
}

let backend: EmbeddingBackend
let upstream: FakeOpenAI
before(async () => {
  backend = await loadTransformers({ model: "use-lite", modelPath: fixture, cacheDir: "" })
  upstream = await startFakeOpenAI()
})
after(async () => {
  await backend.dispose?.()
  await upstream.close()
})

describe("transformers.js embedding backend (onnxruntime-web WASM)", () => {
  it("loads a model directory and returns normalised vectors that rank a paraphrase above an unrelated question", async () => {
    assert.equal(backend.name, "transformers:tiny-bert")
    assert.equal(backend.dimensions, 32)
    const [question, paraphrase, unrelated] = await backend.embed(["How do I reset my password?", "How can I reset my password?", "What is the capital of France?"])
    for (const vector of [question!, paraphrase!, unrelated!]) assert.ok(Math.abs(dot(vector, vector) - 1) < 1e-4)
    assert.ok(dot(question!, paraphrase!) > dot(question!, unrelated!) + 0.2, `${dot(question!, paraphrase!)} vs ${dot(question!, unrelated!)}`)
  })

  it("truncates input to the model's maximum length (128 tokens): text beyond it changes nothing", async () => {
    const long = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? "write" : "function")).join(" ")
    const [a, b] = await backend.embed([`${long} about databases`, `${long} about gardening`])
    assert.ok(Math.abs(dot(a!, b!) - 1) < 1e-5, "only the first 128 tokens are embedded")
  })

  it("serves L1b hits through the gateway with ISARTOR__EMBEDDING_MODEL_PATH", async () => {
    const gateway = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__EMBEDDING_MODEL_PATH: fixture }), {}, transformersBackends)
    try {
      const ask = async (prompt: string) => {
        const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
        return { layer: response.headers.get("x-isartor-layer"), body: (await response.json()) as { message: string } }
      }
      assert.equal((await ask("How do I reset my password?")).layer, "l3")
      const hit = await ask("How can I reset my password?")
      assert.equal(hit.layer, "l1b")
      assert.equal(hit.body.message, "Answer #1 to: How do I reset my password?")
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { model: string } } }
      assert.equal(health.layers.l1b.model, "transformers:tiny-bert")
    } finally {
      await gateway.close()
    }
  })

  it("runs on the embedding worker thread when the runtime picks it", async () => {
    const worker = await loadEmbedderInWorker(new URL("../runtimes/embedding/worker-node.mjs", import.meta.url), { model: "use-lite", modelPath: fixture, cacheDir: "" })
    try {
      assert.equal(worker.name, "transformers:tiny-bert")
      const [inWorker] = await worker.embed(["How do I reset my password?"])
      const [inProcess] = await backend.embed(["How do I reset my password?"])
      assert.ok(Math.abs(dot(inWorker!, inProcess!) - 1) < 1e-5)
    } finally {
      await worker.dispose?.()
    }
  })
})

describe("embedding model start-up errors name the path and the variable", () => {
  const startWith = (env: Record<string, string>, backends = transformersBackends) => startTestGateway(upstreamEnv(upstream.url, env), {}, backends)

  it("a missing model directory", async () => {
    const missing = join(tmpdir(), "isartor-no-model-here")
    await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL_PATH: missing }), (error: Error) => {
      assert.match(error.message, /cannot load the embedding model: no model at .*isartor-no-model-here \(ISARTOR__EMBEDDING_MODEL_PATH\)/)
      return true
    })
  })

  it("a corrupt model file", async () => {
    const directory = await mkdtemp(join(tmpdir(), "isartor-corrupt-model-"))
    try {
      await cp(fixture, directory, { recursive: true })
      await writeFile(join(directory, "onnx", "model.onnx"), "not an onnx model")
      await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL_PATH: directory }), (error: Error) => {
        assert.ok(error.message.includes(`cannot load the embedding model from ${directory} (ISARTOR__EMBEDDING_MODEL_PATH)`), error.message)
        return true
      })
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  })

  it("a known model that is not on this machine, with no cache to download it to", async () => {
    await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL: "all-minilm-l6-v2" }), /all-minilm-l6-v2 is not on this machine: set ISARTOR__EMBEDDING_MODEL_PATH .* or ISARTOR_HF_CACHE_DIR \/ HF_HOME/)
  })

  it("a cache directory that cannot be written", async () => {
    const backends: SemanticBackends = {
      loadEmbedder: (choice) => loadTransformers({ ...choice, cacheDir: "/etc/hostname/cache", cacheVariable: "HF_HOME" }),
      loadHnswlib: async () => hnswlib
    }
    await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL: "bge-small-en-v1.5" }, backends), /the model cache \/etc\/hostname\/cache \(HF_HOME\) cannot be created or written/)
  })

  it("an unknown model name", async () => {
    await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL: "word2vec" }), /unknown embedding model "word2vec" \(ISARTOR__EMBEDDING_MODEL\)/)
  })
})
