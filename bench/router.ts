// L2 figures. 1) The in-process classifier's accuracy on prompts it was not trained on: stratified k-fold
// cross-validation over core/router/prompts.ts (seeded), confusion matrices for tiered and binary mode, with the
// gateway's min-confidence rule applied. 2) L2 overhead: added latency of the classification step on a request
// that misses both caches and is COMPLEX (goes on to L3), for the small-model classifier against a loopback fake
// sidecar that answers at once, and for the embedding classifier — each against the router turned off.
// Usage: npm run bench:router -- [--folds 5] [--seed 7] [--requests 200] [--min-confidence 0.6]
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import type { SemanticBackends } from "../core/Gateway.ts"
import { classesFor, type ClassifierMode, decide, labelFor, trainClassifier } from "../core/router/Classifier.ts"
import { labelledPrompts } from "../core/router/prompts.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { startFakeOpenAI } from "../test/support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../test/support/gateway.ts"
import { writeResults } from "./results.ts"

const { values } = parseArgs({
  options: {
    folds: { type: "string", default: "5" },
    seed: { type: "string", default: "7" },
    requests: { type: "string", default: "200" },
    "min-confidence": { type: "string", default: "0.6" }
  }
})
const folds = Number(values.folds)
const minConfidence = Number(values["min-confidence"])
const encoder = await loadUseLite()

// --- 1. accuracy on held-aside prompts ---
const started = performance.now()
const vectors = await encoder.embed(labelledPrompts.map((prompt) => prompt.text))
const embedMs = performance.now() - started
let seed = Number(values.seed)
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
// Stratified by tier and kind: every fold holds aside the same share of each group.
const foldOf = new Array<number>(labelledPrompts.length)
const groups = new Map<string, Array<number>>()
labelledPrompts.forEach((prompt, i) =>
  groups.set(`${prompt.kind}/${prompt.tier}`, [...groups.get(`${prompt.kind}/${prompt.tier}`) ?? [], i])
)
for (const members of groups.values()) {
  const shuffled = members.map((i) => [random(), i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i)
  shuffled.forEach((i, position) => (foldOf[i] = position % folds))
}

const evaluate = (mode: ClassifierMode) => {
  const classes = classesFor(mode)
  const matrix = classes.map(() => classes.map(() => 0))
  const byKind = { code: [0, 0], general: [0, 0] }
  for (let fold = 0; fold < folds; fold++) {
    const train = labelledPrompts.flatMap((_, i) => (foldOf[i] === fold ? [] : [i]))
    const model = trainClassifier(train.map((i) => vectors[i]!), mode, train.map((i) => labelledPrompts[i]!))
    labelledPrompts.forEach((prompt, i) => {
      if (foldOf[i] !== fold) return
      const decided = decide(model, vectors[i]!, minConfidence).tier
      const truth = labelFor(prompt, mode)
      matrix[classes.indexOf(truth)]![classes.indexOf(decided as never)]!++
      byKind[prompt.kind][0]! += decided === truth ? 1 : 0
      byKind[prompt.kind][1]!++
    })
  }
  const correct = classes.reduce((sum, _, c) => sum + matrix[c]![c]!, 0)
  const total = labelledPrompts.length
  const complex = classes.indexOf("COMPLEX")
  // The costly mistake: a COMPLEX request answered by the small model (the guard is the only safety net then).
  const complexSentLocal = matrix[complex]!.reduce((sum, n, c) => sum + (c === complex ? 0 : n), 0)
  return {
    mode,
    accuracy: correct / total,
    correct,
    total,
    codeAccuracy: byKind.code[0]! / byKind.code[1]!,
    generalAccuracy: byKind.general[0]! / byKind.general[1]!,
    complexSentLocal,
    complexTotal: matrix[complex]!.reduce((a, b) => a + b, 0),
    confusion: Object.fromEntries(
      classes.map((truth, t) => [truth, Object.fromEntries(classes.map((predicted, p) => [predicted, matrix[t]![p]!]))])
    )
  }
}
const accuracy = [evaluate("tiered"), evaluate("binary")]

console.log(
  `L2 classifier — ${labelledPrompts.length} labelled prompts, ${encoder.name} embeddings (embedded in ${
    (embedMs / 1000).toFixed(1)
  } s), ` +
    `${folds}-fold stratified cross-validation (seed ${values.seed}), min confidence ${minConfidence}, node ${process.version}, ${availableParallelism()} cores`
)
for (const result of accuracy) {
  console.log(
    `\n${result.mode}: accuracy ${
      (result.accuracy * 100).toFixed(1)
    } % (${result.correct}/${result.total}); coding prompts ${(result.codeAccuracy * 100).toFixed(1)} %, ` +
      `general ${
        (result.generalAccuracy * 100).toFixed(1)
      } %; COMPLEX sent to the small model: ${result.complexSentLocal}/${result.complexTotal}`
  )
  console.log("rows = true label, columns = decided")
  console.table(result.confusion)
}

// --- 2. L2 overhead on a COMPLEX miss ---
const requests = Number(values.requests)
const sidecar = createServer((req, res) => {
  if (req.method === "GET") {
    return void res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({ object: "list", data: [] })
    )
  }
  req.resume()
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
      id: "chatcmpl-sidecar",
      object: "chat.completion",
      created: 0,
      model: "tiny",
      choices: [{ index: 0, message: { role: "assistant", content: "COMPLEX" }, finish_reason: "stop" }]
    }))
  })
})
await new Promise<void>((resolve) => sidecar.listen(0, "127.0.0.1", resolve))
const sidecarUrl = `http://127.0.0.1:${(sidecar.address() as AddressInfo).port}`
const upstream = await startFakeOpenAI()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => encoder, loadHnswlib: async () => hnswlib }
// Without L1b (cache_mode exact) nothing else embeds the prompt: the difference is the classification alone.
const exactOnly = { ISARTOR__CACHE_MODE: "exact" }
const setups: Array<[string, Record<string, string>]> = [
  ["router off", {}],
  ["small-model classifier (loopback sidecar)", { ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl }],
  ["embedding classifier (reuses L1b's vector)", {
    ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl,
    ISARTOR__LAYER2__CLASSIFIER: "embedding"
  }],
  ["router off, exact cache only", exactOnly],
  ["small-model classifier, exact cache only", { ...exactOnly, ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl }],
  ["embedding classifier, exact cache only", {
    ...exactOnly,
    ISARTOR__LAYER2__SIDECAR_URL: sidecarUrl,
    ISARTOR__LAYER2__CLASSIFIER: "embedding"
  }]
]
// All three gateways run at once and take turns request by request, so drift on this machine hits each alike.
const gateways = []
for (const [, env] of setups) gateways.push(await startTestGateway(upstreamEnv(upstream.url, env), {}, backends))
const samples = setups.map(() => [] as Array<number>)
// Every request is new (both caches miss, L1b embeds it) and COMPLEX, so it goes on to L3 after L2.
const body = (i: number, g: number) =>
  JSON.stringify({
    prompt: `Design and implement a multi-region replication strategy for service ${g}-${i} with tests and migrations`
  })
for (let i = -20; i < requests; i++) {
  for (const [g, gateway] of gateways.entries()) {
    const startedAt = performance.now()
    const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: body(i, g) })
    await response.arrayBuffer()
    if (response.status !== 200) throw new Error(`${setups[g]![0]} answered ${response.status}`)
    if (i >= 0) samples[g]!.push(performance.now() - startedAt)
  }
}
await Promise.all(gateways.map((gateway) => gateway.close()))
const overhead = setups.map(([setup], g) => {
  const sorted = samples[g]!.sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { setup, p50Ms: at(0.5), p99Ms: at(0.99) }
})
const baseFor = (row: typeof overhead[number]) => overhead[row.setup.includes("exact cache only") ? 3 : 0]!
console.log(
  `\nL2 overhead on a COMPLEX request that misses both caches (${requests} per setup, sequential, setups interleaved, /api/chat, upstream answers at once):`
)
console.table(overhead.map((row) => ({
  setup: row.setup,
  "p50 ms": row.p50Ms.toFixed(2),
  "p99 ms": row.p99Ms.toFixed(2),
  "added p50 ms": row === baseFor(row) ? "—" : (row.p50Ms - baseFor(row).p50Ms).toFixed(2)
})))
sidecar.close()
await upstream.close()
await encoder.dispose?.()
await writeResults("router", {
  folds,
  seed: Number(values.seed),
  minConfidence,
  accuracy,
  overhead,
  runtime: `node ${process.version}`
})
