// Semantic-cache quality: precision and hit rate of L1b's decision (cosine threshold + verifier) on the two
// development files in ../shared/data. Prints figures; asserts nothing.
// Usage: npm run bench:quality -- [--threshold 0.85] [--qqp-pairs 4000] [--sweep]
import { existsSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { parseArgs } from "node:util"
import { defaultVerifierOptions, type VerifierOptions, verify } from "../core/cache/semantic/SemanticVerifier.ts"
import { VectorIndex } from "../core/cache/semantic/VectorIndex.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"

const { values } = parseArgs({
  options: {
    threshold: { type: "string", default: "0.85" },
    "qqp-pairs": { type: "string", default: "4000" },
    data: { type: "string", default: "../shared/data" },
    sweep: { type: "boolean", default: false }
  }
})
const threshold = Number(values.threshold)
const dataDir = values.data

interface Pair {
  readonly origin: string
  readonly similar: string
  readonly label?: number
}

const gptcache = JSON.parse(await readFile(`${dataDir}/gptcache-mock-pairs.json`, "utf8")) as Array<Pair>
const qqpAll = (await readFile(`${dataDir}/qqp-dev.jsonl`, "utf8")).trim().split("\n").map((line) =>
  JSON.parse(line) as Pair
)
// A fixed, evenly spread sample keeps the run short; --qqp-pairs 40427 takes every pair.
const qqpCount = Math.min(Number(values["qqp-pairs"]), qqpAll.length)
const qqp = Array.from({ length: qqpCount }, (_, i) => qqpAll[Math.floor((i * qqpAll.length) / qqpCount)]!)

// Embeddings are cached on disk between runs (bench/results is not committed): the model is the slow part.
const cacheFile = new URL("./results/embeddings-use-lite.json", import.meta.url)
const known = new Map<string, Float32Array>(
  existsSync(cacheFile)
    ? Object.entries(JSON.parse(await readFile(cacheFile, "utf8")) as Record<string, Array<number>>).map((
      [text, vector]
    ) => [text, Float32Array.from(vector)])
    : []
)
const backend = await loadUseLite()
const texts = [...new Set([...gptcache, ...qqp].flatMap((pair) => [pair.origin, pair.similar]))].filter((text) =>
  !known.has(text)
)
const started = performance.now()
for (let i = 0; i < texts.length; i += 64) {
  const batch = texts.slice(i, i + 64)
  const vectors = await backend.embed(batch)
  batch.forEach((text, j) => known.set(text, vectors[j]!))
  process.stdout.write(`\rembedding ${Math.min(i + 64, texts.length)}/${texts.length}`)
}
if (texts.length > 0) {
  process.stdout.write(`\n${texts.length} texts embedded in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  await mkdir(new URL("./results/", import.meta.url), { recursive: true })
  await writeFile(
    cacheFile,
    JSON.stringify(Object.fromEntries([...known].map(([text, vector]) => [text, Array.from(vector)])))
  )
}
const vectorOf = (text: string) => known.get(text)!
const dot = (a: Float32Array, b: Float32Array) => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!
  return sum
}

interface Figures {
  readonly correct: number
  readonly falseHits: number
  readonly misses: number
  readonly precision: number
  readonly hitRate: number
}

/** GPTCache protocol: cache every origin, ask every paraphrase; a hit on its own origin's text is correct. */
const hnswlib = await loadHnswlib()
const origins = [...new Set(gptcache.map((pair) => pair.origin))]
const index = VectorIndex.make(hnswlib, backend.dimensions, origins.length)
origins.forEach((text, label) => index.add(label, vectorOf(text)))
const gptcacheNeighbours = gptcache.map((pair) => index.search(vectorOf(pair.similar), 4, () => true))

const evaluateGptcache = (cut: number, options: VerifierOptions | undefined): Figures => {
  let correct = 0
  let falseHits = 0
  gptcache.forEach((pair, i) => {
    const hit = gptcacheNeighbours[i]!.find((candidate) =>
      candidate.similarity >= cut &&
      (!options || verify(pair.similar, origins[candidate.label]!, candidate.similarity, options).accept)
    )
    if (!hit) return
    if (origins[hit.label] === pair.origin) correct++
    else falseHits++
  })
  const misses = gptcache.length - correct - falseHits
  return {
    correct,
    falseHits,
    misses,
    precision: correct / Math.max(1, correct + falseHits),
    hitRate: (correct + falseHits) / gptcache.length
  }
}

/** QQP protocol, pairwise: a "hit" is cosine ≥ threshold and the verifier agreeing; label 1 makes it correct. */
const qqpSimilarity = qqp.map((pair) => dot(vectorOf(pair.origin), vectorOf(pair.similar)))
const paraphrases = qqp.filter((pair) => pair.label === 1).length
const evaluateQqp = (cut: number, options: VerifierOptions | undefined): Figures => {
  let correct = 0
  let falseHits = 0
  qqp.forEach((pair, i) => {
    const similarity = qqpSimilarity[i]!
    if (similarity < cut || (options && !verify(pair.similar, pair.origin, similarity, options).accept)) return
    if (pair.label === 1) correct++
    else falseHits++
  })
  return {
    correct,
    falseHits,
    misses: paraphrases - correct,
    precision: correct / Math.max(1, correct + falseHits),
    hitRate: correct / paraphrases
  }
}

const row = (name: string, figures: Figures) => ({
  decision: name,
  correct: figures.correct,
  false: figures.falseHits,
  miss: figures.misses,
  precision: figures.precision.toFixed(3),
  "hit rate": figures.hitRate.toFixed(3)
})

console.log(
  `L1b quality — model use-lite (512-d), threshold ${threshold}, HNSW nearest neighbour; machine ${availableParallelism()} cores, ` +
    `${"Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node"} ${process.version}`
)
console.log(
  `\nGPTCache mock pairs (${gptcache.length} paraphrases of ${origins.length} cached origins; targets: precision ≥ 0.97, hit rate ≥ 0.90)`
)
console.table([
  row("cosine only", evaluateGptcache(threshold, undefined)),
  row("cosine + verifier", evaluateGptcache(threshold, defaultVerifierOptions))
])
console.log(
  `QQP dev pairs (${qqp.length} of ${qqpAll.length}, ${paraphrases} paraphrases; targets: precision ≥ 0.85, hit rate on paraphrases ≥ 0.50)`
)
console.table([
  row("cosine only", evaluateQqp(threshold, undefined)),
  row("cosine + verifier", evaluateQqp(threshold, defaultVerifierOptions))
])

if (values.sweep) {
  const grid: Array<Record<string, unknown>> = []
  for (const cut of [0.75, 0.8, 0.85, 0.9]) {
    for (const strictBelow of [0, 0.9, 0.95]) {
      for (const minOverlap of [0, 0.25, 0.34, 0.5]) {
        const options = { strictBelow, minOverlap }
        const g = evaluateGptcache(cut, options)
        const q = evaluateQqp(cut, options)
        grid.push({
          cut,
          strictBelow,
          minOverlap,
          "gpt P": g.precision.toFixed(3),
          "gpt hit": g.hitRate.toFixed(3),
          "qqp P": q.precision.toFixed(3),
          "qqp hit": q.hitRate.toFixed(3)
        })
      }
    }
  }
  console.table(grid)
}
