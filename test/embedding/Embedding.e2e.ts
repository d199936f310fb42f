import { Cause, Effect, Exit } from "effect"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { once } from "node:events"
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { fileURLToPath } from "node:url"
import type { LayerUnavailable } from "../../core/domain/errors.ts"
import { type BackendStatus, Embedder, type EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker, type WorkerEmbeddingBackend } from "../../runtimes/embedding/inWorker.ts"
import { loadTransformers } from "../../runtimes/embedding/transformers.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"

/** The tiny BERT-shaped ONNX model `npm run fixture:tiny-bert` generates (seeded random weights, real WordPiece). */
const fixture = fileURLToPath(new URL("../fixtures/tiny-bert", import.meta.url))
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
    const [question, paraphrase, unrelated] = await backend.embed([
      "How do I reset my password?",
      "How can I reset my password?",
      "What is the capital of France?"
    ])
    for (const vector of [question!, paraphrase!, unrelated!]) assert.ok(Math.abs(dot(vector, vector) - 1) < 1e-4)
    assert.ok(
      dot(question!, paraphrase!) > dot(question!, unrelated!) + 0.2,
      `${dot(question!, paraphrase!)} vs ${dot(question!, unrelated!)}`
    )
  })

  it("truncates input to the model's maximum length (128 tokens): text beyond it changes nothing", async () => {
    const long = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? "write" : "function")).join(" ")
    const [a, b] = await backend.embed([`${long} about databases`, `${long} about gardening`])
    assert.ok(Math.abs(dot(a!, b!) - 1) < 1e-5, "only the first 128 tokens are embedded")
  })

  it("serves L1b hits through the gateway with ISARTOR__EMBEDDING_MODEL_PATH", async () => {
    const gateway = await startTestGateway(
      upstreamEnv(upstream.url, { ISARTOR__EMBEDDING_MODEL_PATH: fixture }),
      {},
      transformersBackends
    )
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
    const worker = await loadEmbedderInWorker(new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url), {
      model: "use-lite",
      modelPath: fixture,
      cacheDir: ""
    })
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

describe("Embedder over a backend that restarts itself", () => {
  const failureOf = async (effect: Effect.Effect<unknown, LayerUnavailable>) => {
    const exit = await Effect.runPromiseExit(effect)
    assert.ok(Exit.isFailure(exit))
    const error = Cause.findErrorOption(exit.cause)
    assert.equal(error._tag, "Some")
    return (error as { value: LayerUnavailable }).value
  }

  it("shows the restart with its reason, fails embeds without calling the backend, is ok once back", async () => {
    let status: BackendStatus = { status: "ok" }
    let calls = 0
    let inFlight: { reject: (error: Error) => void } | undefined
    const embedder = Embedder.make({
      name: "fake",
      dimensions: 2,
      maxInputChars: 100,
      embed: (texts) => {
        calls++
        if (texts[0] === "in flight") return new Promise((_, reject) => (inFlight = { reject }))
        return Promise.resolve(texts.map(() => Float32Array.of(1, 0)))
      },
      status: () => status
    })
    await Effect.runPromise(embedder.embed("before"))
    // A batch lost to the crash is the backend's to report: once it is back, nothing says "unavailable".
    const lost = failureOf(embedder.embed("in flight"))
    const batch = await eventually(() => inFlight, { what: "the batch to reach the backend", intervalMs: 1 })
    status = { status: "restarting", reason: "the embedding worker exited (code 1); restarting it in 1 s" }
    batch.reject(new Error("the embedding worker exited (code 1)"))
    assert.match((await lost).reason, /embedding worker exited/)
    assert.deepEqual(embedder.status(), { status: "restarting", model: "fake", reason: status.reason })

    const callsBefore = calls
    const failure = await failureOf(embedder.embed("while down"))
    assert.equal(failure.layer, "l1b")
    assert.match(failure.reason, /restarting/)
    assert.equal(calls, callsBefore, "not queued for a backend that cannot answer")

    status = { status: "ok" }
    assert.deepEqual(embedder.status(), { status: "ok", model: "fake" })
    assert.equal((await Effect.runPromise(embedder.embed("after"))).length, 2)
  })
})

describe("the embedding worker after a crash", () => {
  const workerEntry = new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url)
  const reasonOf = (worker: WorkerEmbeddingBackend) => {
    const status = worker.status!()
    return "reason" in status ? status.reason : ""
  }
  /** Waits (at most a minute: a restart loads the model again) until the worker is ok; says what it was otherwise. */
  const backUp = (worker: WorkerEmbeddingBackend, what = "the worker to come back") =>
    eventually(() => {
      assert.equal(worker.status!().status, "ok", reasonOf(worker))
      return true
    }, { what, timeoutMs: 60_000, intervalMs: 50 })

  it(
    "fails embeds at once while it restarts, says why, and embeds as before once back",
    { timeout: 120_000 },
    async () => {
      const worker = await loadEmbedderInWorker(workerEntry, { model: "use-lite", modelPath: fixture, cacheDir: "" })
      try {
        assert.equal(worker.fast, undefined, "a model without a fast stage offers none")
        const [before] = await worker.embed(["How do I reset my password?"])
        // A batch in flight when the thread dies is rejected, not left waiting.
        const inFlight = worker.embed(["What is the capital of France?"])
        await worker.crashForTesting()
        await assert.rejects(inFlight, /embedding worker exited/)
        assert.equal(worker.status!().status, "restarting")
        assert.match(reasonOf(worker), /the embedding worker exited \(code 1\); restarting it in 1 s/)
        // Sent while it is down: rejected (a hang would hit this test's timeout), never posted to the dead thread.
        await assert.rejects(worker.embed(["Is anyone there?"]), /embedding worker exited/)

        await backUp(worker)
        const [after] = await worker.embed(["How do I reset my password?"])
        assert.ok(Math.abs(dot(before!, after!) - 1) < 1e-5, "the restarted worker runs the same model")

        // Crashing again soon after: the next restart waits twice as long.
        await worker.crashForTesting()
        assert.match(reasonOf(worker), /restarting it in 2 s/)
        await backUp(worker, "the worker to come back after its second crash")
      } finally {
        await worker.dispose?.()
      }
    }
  )

  it(
    "keeps restarting, later each time, while the model cannot be loaded, and recovers",
    { timeout: 120_000 },
    async () => {
      const directory = await mkdtemp(join(tmpdir(), "isartor-restart-model-"))
      await cp(fixture, directory, { recursive: true })
      const worker = await loadEmbedderInWorker(workerEntry, { model: "use-lite", modelPath: directory, cacheDir: "" })
      try {
        const model = join(directory, "onnx", "model.onnx")
        const weights = await readFile(model)
        await writeFile(model, "not an onnx model")
        await worker.crashForTesting()
        await eventually(() => {
          assert.match(reasonOf(worker), /could not load the model again: .*restarting it in 2 s/)
          return true
        }, {
          what: "the restart to fail to load the model and wait 2 s",
          timeoutMs: 60_000,
          intervalMs: 50
        })
        assert.equal(worker.status!().status, "restarting")
        await writeFile(model, weights)
        await backUp(worker, "the worker to load the model again once it is repaired")
        assert.equal((await worker.embed(["Back again?"]))[0]!.length, 32)
      } finally {
        await worker.dispose?.()
        await rm(directory, { recursive: true, force: true })
      }
    }
  )

  it("dispose cancels a pending restart", { timeout: 60_000 }, async () => {
    const choice = { model: "use-lite", modelPath: fixture, cacheDir: "" }
    const worker = await loadEmbedderInWorker(workerEntry, choice)
    const witness = await loadEmbedderInWorker(workerEntry, choice)
    try {
      await worker.crashForTesting()
      await worker.dispose?.()
      // The witness crashes after it, with the same first restart delay: timers of one delay fire in the order they
      // were set, so once the witness's restart has begun, the disposed worker's would have.
      await witness.crashForTesting()
      assert.match(reasonOf(witness), /restarting it in 1 s/)
      await eventually(() => !/restarting it in 1 s/.test(reasonOf(witness)), {
        what: "the witness's restart to begin",
        timeoutMs: 30_000
      })
      assert.equal(worker.status!().status, "unavailable")
      await assert.rejects(worker.embed(["Still there?"]), /disposed/)
    } finally {
      await witness.dispose?.()
    }
  })

  it("a restarted worker does not keep the process alive", { timeout: 90_000 }, async () => {
    // A process that starts the worker, crashes it, waits for the restart and then has nothing left to do.
    const dir = await mkdtemp(join(tmpdir(), "isartor-worker-unref-"))
    const script = join(dir, "restart.mts")
    const inWorker = new URL("../../runtimes/embedding/inWorker.ts", import.meta.url).href
    const choice = { model: "use-lite", modelPath: fixture, cacheDir: "" }
    await writeFile(
      script,
      [
        `import { loadEmbedderInWorker } from ${JSON.stringify(inWorker)}`,
        `const worker = await loadEmbedderInWorker(new URL(${JSON.stringify(workerEntry.href)}), ${
          JSON.stringify(choice)
        })`,
        `await worker.crashForTesting()`,
        `while (worker.status().status !== "ok") await new Promise((resolve) => setTimeout(resolve, 50))`,
        `console.log("restarted")`
      ].join("\n")
    )
    try {
      const child = spawn(process.execPath, ["--import", "tsx", script], {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
      // Kept alive, it would never exit: stop waiting after a minute.
      const guard = setTimeout(() => child.kill("SIGKILL"), 60_000)
      const [code, signal] = (await once(child, "exit")) as [number | null, string | null]
      clearTimeout(guard)
      assert.match(output, /restarted/)
      assert.deepEqual([code, signal], [0, null], output)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it("keeps USE-lite's fast stage on the gateway's thread across a restart", { timeout: 180_000 }, async () => {
    const choice = { model: "use-lite", modelPath: "", cacheDir: "" }
    const worker = await loadEmbedderInWorker(workerEntry, choice)
    try {
      // The table comes from the cache directory (or is built on the worker, once).
      await eventually(() => worker.fast!("ready?") !== undefined, {
        what: "the fast stage to be ready",
        timeoutMs: 60_000,
        intervalMs: 50
      })
      const question = "How do I export my contacts to a spreadsheet?"
      const before = worker.fast!(question)!
      await worker.crashForTesting()
      assert.deepEqual(worker.fast!(question), before, "it still answers while the worker is down")
      await backUp(worker)
      assert.deepEqual(worker.fast!(question), before)
      const [vector] = await worker.embed([question])
      assert.equal(vector!.length, 512)
    } finally {
      await worker.dispose?.()
    }
  })
})

describe("embedding model start-up errors name the path and the variable", () => {
  const startWith = (env: Record<string, string>, backends = transformersBackends) =>
    startTestGateway(upstreamEnv(upstream.url, env), {}, backends)

  it("a missing model directory", async () => {
    const missing = join(tmpdir(), "isartor-no-model-here")
    await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL_PATH: missing }), (error: Error) => {
      assert.match(
        error.message,
        /cannot load the embedding model: no model at .*isartor-no-model-here \(ISARTOR__EMBEDDING_MODEL_PATH\)/
      )
      return true
    })
  })

  it("a corrupt model file", async () => {
    const directory = await mkdtemp(join(tmpdir(), "isartor-corrupt-model-"))
    try {
      await cp(fixture, directory, { recursive: true })
      await writeFile(join(directory, "onnx", "model.onnx"), "not an onnx model")
      await assert.rejects(startWith({ ISARTOR__EMBEDDING_MODEL_PATH: directory }), (error: Error) => {
        assert.ok(
          error.message.includes(`cannot load the embedding model from ${directory} (ISARTOR__EMBEDDING_MODEL_PATH)`),
          error.message
        )
        return true
      })
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  })

  it("a known model that is not on this machine, with no cache to download it to", async () => {
    await assert.rejects(
      startWith({ ISARTOR__EMBEDDING_MODEL: "all-minilm-l6-v2" }),
      /all-minilm-l6-v2 is not on this machine: set ISARTOR__EMBEDDING_MODEL_PATH .* or ISARTOR_HF_CACHE_DIR \/ HF_HOME/
    )
  })

  it("a cache directory that cannot be written", async () => {
    const backends: SemanticBackends = {
      loadEmbedder: (choice) =>
        loadTransformers({ ...choice, cacheDir: "/etc/hostname/cache", cacheVariable: "HF_HOME" }),
      loadHnswlib: async () => hnswlib
    }
    await assert.rejects(
      startWith({ ISARTOR__EMBEDDING_MODEL: "bge-small-en-v1.5" }, backends),
      /the model cache \/etc\/hostname\/cache \(HF_HOME\) cannot be created or written/
    )
  })

  it("an unknown model name", async () => {
    await assert.rejects(
      startWith({ ISARTOR__EMBEDDING_MODEL: "word2vec" }),
      /unknown embedding model "word2vec" \(ISARTOR__EMBEDDING_MODEL\)/
    )
  })
})

describe("Embedder over a backend that stops answering", () => {
  it("fails the embed with LayerUnavailable after its timeout instead of waiting forever", async () => {
    const stuck: EmbeddingBackend = {
      name: "stuck",
      dimensions: 4,
      maxInputChars: 2048,
      embed: () => new Promise<Array<Float32Array>>(() => undefined)
    }
    const exit = await Effect.runPromiseExit(Embedder.make(stuck, { timeoutMs: 50 }).embed("never answered"))
    assert.ok(Exit.isFailure(exit))
    const failure = Exit.findErrorOption(exit)
    assert.equal(failure._tag === "Some" ? failure.value._tag : "none", "LayerUnavailable")
    assert.match(failure._tag === "Some" ? failure.value.reason : "", /no vector within 50 ms/)
  })
})
