// Every analysis that runs on request text reads adversarial strings (long runs that make a backtracking regex retry
// from each position) of 64 KB and 256 KB to the end and answers; how long each takes, against its budget of a
// second, is bench/regex.ts's figure (tests assert no wall-clock times), and bench/regex.ts reads 1 MB too. A
// quadratic scan would take many minutes at 256 KB: the per-test timeout turns that into a failure instead of a
// hung run. And a real gateway keeps answering /healthz
// while it verifies four 40 KB prompts against cached look-alikes.
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { analyse, MAX_VERIFIED_CHARS, verify } from "../../core/cache/semantic/SemanticVerifier.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../../runtimes/embedding/inWorker.ts"
import { adversarial, analyses } from "../support/adversarialText.ts"
import { startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"

describe("text analyses read adversarial text to the end", () => {
  for (const [name, analysis] of Object.entries(analyses)) {
    it(name, { timeout: 60_000 }, () => {
      for (const make of Object.values(adversarial)) {
        for (const size of [64 * 1024, 256 * 1024]) analysis(make(size))
      }
    })
  }
})

describe("the verifier", () => {
  it("accepts no text longer than it reads, not even the same text", () => {
    const long = `${"How do I reset my password? ".repeat(100)}Thanks.`
    assert.ok(long.length > MAX_VERIFIED_CHARS)
    const verdict = verify(long, long, 1)
    assert.deepEqual(verdict, { accept: false, reason: `longer than ${MAX_VERIFIED_CHARS} characters` })
    assert.equal(verify("How do I reset my password?", "How can I reset my password?", 0.95).accept, true)
  })

  it("checks a lookup's worth of candidates at the length cap, whatever their shape", () => {
    for (const [shape, make] of Object.entries(adversarial)) {
      // A long name defeats the shortcut that stops a run at the longest name looked for.
      const text = `long_${"q".repeat(60)} ${make(MAX_VERIFIED_CHARS)}`.slice(0, MAX_VERIFIED_CHARS)
      const other = `${text.slice(0, -1)}z`
      const question = analyse(text)
      assert.equal(question.verifiable, true, `${shape}: read whole at the cap`)
      assert.deepEqual(verify(question, text, 0.99), { accept: true, reason: "agrees" }, `${shape}: itself`)
      const first = verify(question, other, 0.99)
      for (let candidate = 1; candidate < 16; candidate++) {
        assert.deepEqual(verify(question, other, 0.99), first, `${shape}: the same verdict for the same pair`)
      }
    }
  })
})

describe("a gateway under long prompts", () => {
  it("answers /healthz while it verifies four 40 KB prompts against look-alikes", { timeout: 120_000 }, async () => {
    const upstream = await startFakeOpenAI()
    let worker: { dispose?: () => Promise<void> } | undefined
    const backends: SemanticBackends = {
      loadEmbedder: async (
        choice
      ) => (worker = await loadEmbedderInWorker(new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url), {
        ...choice,
        cacheDir: ""
      })),
      loadHnswlib
    }
    // The fast stage off: its table is built at start-up, and L1b's model stage is what reads these prompts.
    const env = upstreamEnv(upstream.url, { ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" })
    const gateway = await startTestGateway(env, {}, backends)
    try {
      const ask = async (prompt: string) => {
        const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
        await response.arrayBuffer()
        return response.status
      }
      // The embedder reads the first 2,048 characters: each prompt has a cached look-alike at similarity 1, so the
      // verifier reads both whole.
      const shapes = ["a run of letters, then !", "letters and dots", "underscored names and dots, then a call"]
      shapes.push("many capitals")
      const prompts = shapes.map((shape) => adversarial[shape]!(40_000))
      for (const prompt of prompts) assert.equal(await ask(`${prompt} first`), 200)
      const answers = Promise.all(prompts.map((prompt) => ask(`${prompt} second`)))
      let done = false
      void answers.finally(() => (done = true))
      // Probed until the answers are in, however long they take; how long /healthz waits is bench/regex.ts's figure.
      let probes = 0
      while (!done) {
        const healthz = await fetch(`${gateway.url}/healthz`)
        assert.equal(healthz.status, 200)
        await healthz.arrayBuffer()
        probes++
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.deepEqual(await answers, [200, 200, 200, 200])
      assert.ok(probes > 0)
    } finally {
      await gateway.close()
      await worker?.dispose?.()
      await upstream.close()
    }
  })
})
