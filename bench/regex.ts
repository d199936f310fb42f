// How long each analysis of request text takes on adversarial strings (test/support/adversarialText.ts) at 64 KB and
// 1 MB, a lookup's worth of verifications at the length cap, and how long a gateway's /healthz waits while it
// verifies four 40 KB prompts. Each figure has a budget; the bench prints both and exits 1 when one is over: a
// quadratic scan takes seconds at 64 KB, a linear one milliseconds.
// Usage: npm run bench:regex -- [--rounds 3] [--no-gateway]
import { availableParallelism, cpus } from "node:os"
import { parseArgs } from "node:util"
import { analyse, MAX_VERIFIED_CHARS, verify } from "../core/cache/semantic/SemanticVerifier.ts"
import type { SemanticBackends } from "../core/Gateway.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../runtimes/embedding/inWorker.ts"
import { adversarial, analyses } from "../test/support/adversarialText.ts"
import { startFakeOpenAI } from "../test/support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../test/support/gateway.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    "no-gateway": { type: "boolean", default: false }
  }
})
const rounds = Number(values.rounds)

/** Budgets, in ms: one analysis of one string; 16 verifications at the cap; a /healthz answer; a refusal. */
const budget = { analysis: 1000, candidates: 1000, healthz: 1000, tooLong: 50 }

interface Figure {
  readonly what: string
  readonly ms: number
  readonly budgetMs: number
}
const figures: Array<Figure> = []
/** The slowest of `rounds` runs of `work`. */
const worst = (work: () => unknown) => {
  let slowest = 0
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    work()
    slowest = Math.max(slowest, performance.now() - started)
  }
  return slowest
}

console.log(`node ${process.version}, ${cpus()[0]?.model ?? "cpu"} × ${availableParallelism()}, ${rounds} rounds`)

for (const [name, analysis] of Object.entries(analyses)) {
  for (const size of [64 * 1024, 1024 * 1024]) {
    let slowest: Figure = { what: "", ms: -1, budgetMs: budget.analysis }
    for (const [shape, make] of Object.entries(adversarial)) {
      const text = make(size)
      const ms = worst(() => analysis(text))
      if (ms > slowest.ms) {
        slowest = { what: `${name}, ${size} chars, slowest: ${shape}`, ms, budgetMs: budget.analysis }
      }
    }
    figures.push(slowest)
  }
}

const long = `${"How do I reset my password? ".repeat(100)}Thanks.`
figures.push({ what: "verifier: refuses a text past the cap", ms: worst(() => verify(long, long, 1)), budgetMs: 50 })

for (const [shape, make] of Object.entries(adversarial)) {
  const text = `long_${"q".repeat(60)} ${make(MAX_VERIFIED_CHARS)}`.slice(0, MAX_VERIFIED_CHARS)
  const other = `${text.slice(0, -1)}z`
  const ms = worst(() => {
    const question = analyse(text)
    for (let candidate = 0; candidate < 16; candidate++) verify(question, other, 0.99)
  })
  figures.push({ what: `verifier: 16 candidates at the cap, ${shape}`, ms, budgetMs: budget.candidates })
}

if (!values["no-gateway"]) figures.push(await healthzWhileVerifying())

async function healthzWhileVerifying(): Promise<Figure> {
  const upstream = await startFakeOpenAI()
  let worker: { dispose?: () => Promise<void> } | undefined
  const backends: SemanticBackends = {
    loadEmbedder: async (
      choice
    ) => (worker = await loadEmbedderInWorker(new URL("../runtimes/embedding/worker-node.mjs", import.meta.url), {
      ...choice,
      cacheDir: ""
    })),
    loadHnswlib
  }
  const gateway = await startTestGateway(
    upstreamEnv(upstream.url, { ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" }),
    {},
    backends
  )
  try {
    const ask = async (prompt: string) => {
      const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
      await response.arrayBuffer()
      return response.status
    }
    const shapes = ["a run of letters, then !", "letters and dots", "underscored names and dots, then a call"]
    const prompts = [...shapes, "many capitals"].map((shape) => adversarial[shape]!(40_000))
    let slowest = 0
    for (let round = 0; round < rounds; round++) {
      for (const prompt of prompts) await ask(`${prompt} first ${round}`)
      let done = false
      const answers = Promise.all(prompts.map((prompt) => ask(`${prompt} second ${round}`)))
      void answers.finally(() => (done = true))
      while (!done) {
        const started = performance.now()
        await (await fetch(`${gateway.url}/healthz`)).arrayBuffer()
        slowest = Math.max(slowest, performance.now() - started)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await answers
    }
    return { what: "gateway: /healthz while verifying four 40 KB prompts", ms: slowest, budgetMs: budget.healthz }
  } finally {
    await gateway.close()
    await worker?.dispose?.()
    await upstream.close()
  }
}

const over = figures.filter((figure) => figure.ms > figure.budgetMs)
for (const figure of figures) {
  const mark = figure.ms > figure.budgetMs ? "OVER" : "ok"
  console.log(`${mark.padEnd(4)} ${figure.ms.toFixed(1).padStart(8)} ms / ${figure.budgetMs} ms  ${figure.what}`)
}
console.log(`${figures.length} figures, ${over.length} over budget`)
await writeResults("regex", { rounds, budget, figures })
if (over.length > 0) process.exitCode = 1
