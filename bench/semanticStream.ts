// L1b's false-hit budget on a stream, through a real gateway over HTTP (issue 31): a loopback upstream knows the
// truth (a question's answer is its cluster's: a label-1 paraphrase gets its origin's answer, a label-0 one its own),
// the origins are cached first (Cache-Control: no-cache: written, not read, so the budget learns nothing from them),
// then the paraphrases are asked in a seeded random order. Reported per budget and file: the served false-hit rate
// over the second half of the stream, the hit rate, and exploration — the share of would-be hits (and of upstream
// calls) spent checking served ones, after the first 20 %.
// Usage: npm run bench:semantic -- --stream [--budgets 0.02,0.05,0.1] [--limit N] [--seed 1]
//                                  [--decision learned|cosine] [--pairs gptcache|qqp]
//                                  [--threshold T: the learned decision's l1b_score_threshold]
import { serve } from "@hono/node-server"
import { readFile } from "node:fs/promises"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { startGateway } from "../core/Gateway.ts"
import { loadHnswlib } from "../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../runtimes/embedding/useLite.ts"
import { loadUseLiteFastOnly } from "../runtimes/embedding/useLiteStatic.ts"
import { withDiskCache } from "./embeddingCache.ts"
import { type LabelledPair, pairsOf, readPairs } from "./l1bData.ts"
import { writeResults } from "./results.ts"

const GPTCACHE = fileURLToPath(new URL("../../shared/data/gptcache-mock-pairs.json", import.meta.url))

/** Every question's true answer: its cluster's. The first word on a question wins (a text can appear twice). */
export const truthOf = (pairs: ReadonlyArray<LabelledPair>) => {
  const answers = new Map<string, string>()
  pairs.forEach((pair, i) => {
    if (!answers.has(pair.origin)) answers.set(pair.origin, `answer to cluster ${answers.size} (${i})`)
  })
  pairs.forEach((pair, i) => {
    if (answers.has(pair.similar)) return
    answers.set(pair.similar, pair.label === 0 ? `answer to its own question (${i})` : answers.get(pair.origin)!)
  })
  return answers
}

/** The upstream that knows the truth: an OpenAI chat completion whose content is the question's cluster answer. */
const startTruth = async (answers: ReadonlyMap<string, string>) => {
  const calls = { count: 0 }
  const server = createServer((request, response) => {
    let body = ""
    request.on("data", (chunk) => (body += chunk))
    request.on("end", () => {
      calls.count++
      const messages = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages
      const question = messages[messages.length - 1]!.content
      response.setHeader("content-type", "application/json")
      response.end(JSON.stringify({
        id: `chatcmpl-${calls.count}`,
        object: "chat.completion",
        created: 1,
        model: "bench",
        choices: [{
          index: 0,
          message: { role: "assistant", content: answers.get(question) ?? "unknown" },
          finish_reason: "stop"
        }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
      }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/v1`, calls, close: () => server.close() }
}

interface BudgetStatus {
  readonly served_hits: number
  readonly explored_hits: number
  readonly withheld_hits: number
}

const startBudgetGateway = async (upstream: string, budget: number, decision: string, scoreThreshold?: string) => {
  // The learned decision needs only the fast stage; the cosine decision the model too.
  // The model's vectors are remembered on disk between runs (bench/embeddingCache.ts).
  const fast = decision === "cosine"
    ? (await withDiskCache(await loadUseLite({ fast: true }))).backend
    : await loadUseLiteFastOnly()
  const hnswlib = await loadHnswlib()
  const gateway = await startGateway({
    env: {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__CACHE_MODE: "semantic",
      ISARTOR__CACHE_TTL_SECS: "100000000",
      ISARTOR__CACHE_MAX_CAPACITY: "100000",
      ISARTOR__L1B_ERROR_BUDGET: String(budget),
      ISARTOR__L1B_DECISION: decision,
      ...(scoreThreshold === undefined ? {} : { ISARTOR__L1B_SCORE_THRESHOLD: scoreThreshold }),
      ISARTOR__EXTERNAL_LLM_URL: upstream,
      ISARTOR__EXTERNAL_LLM_API_KEY: "sk-bench-0000000000000000"
    },
    readTextFile: async () => undefined
  }, {
    log: { info: () => undefined, warn: () => undefined },
    semantic: { loadEmbedder: async () => fast, loadHnswlib: async () => hnswlib }
  })
  const server = serve({ fetch: gateway.fetch, hostname: "127.0.0.1", port: 0 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const ask = async (question: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench", ...headers },
      body: JSON.stringify({ model: "bench", messages: [{ role: "user", content: question }] })
    })
    const body = await response.json() as { choices: Array<{ message: { content: string } }> }
    return { layer: response.headers.get("x-isartor-layer"), answer: body.choices[0]!.message.content }
  }
  const health = async () => {
    const body = await (await fetch(`${url}/health`)).json() as {
      layers?: { l1b?: { entries: number; budget: BudgetStatus } }
    }
    return body.layers?.l1b
  }
  const close = async () => {
    server.close()
    await gateway.dispose()
  }
  return { ask, health, close }
}

/** Waits until L1b's entries stop growing: its inserts run beside the answers. */
const settled = async (health: () => Promise<{ entries: number } | undefined>) => {
  let last = -1
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    const entries = (await health())?.entries ?? 0
    if (entries === last) return entries
    last = entries
  }
}

export const seeded = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648

/** The paraphrases in the bench's seeded random order. */
export const streamOf = (pairs: ReadonlyArray<LabelledPair>, seed: number) => {
  const random = seeded(seed)
  return pairs.map((pair) => [random(), pair] as const).sort((a, b) => a[0] - b[0]).map(([, pair]) => pair)
}

/** The files the stream runs on: GPTCache's pairs (all paraphrases) and the held-out Quora split. */
export const streamFiles = async (only?: string) => {
  const gptcache = JSON.parse(await readFile(GPTCACHE, "utf8")) as Array<{ origin: string; similar: string }>
  return [
    { name: "gptcache-mock-pairs.json", pairs: gptcache.map((pair) => ({ ...pair, label: 1 })) },
    { name: "qqp-dev.jsonl, heldout split", pairs: pairsOf((await readPairs()).pairs, "heldout") }
  ].filter((file) => only === undefined || file.name.startsWith(only))
}

const runOne = async (
  name: string,
  pairs: ReadonlyArray<LabelledPair>,
  budget: number,
  options: { readonly seed: number; readonly decision: string; readonly scoreThreshold?: string | undefined }
) => {
  const answers = truthOf(pairs)
  const upstream = await startTruth(answers)
  const gateway = await startBudgetGateway(upstream.url, budget, options.decision, options.scoreThreshold)
  const origins = [...new Set(pairs.map((pair) => pair.origin))]
  for (const origin of origins) await gateway.ask(origin, { "cache-control": "no-cache" })
  const cached = await settled(gateway.health)
  const stream = streamOf(pairs, options.seed)
  const outcomes: Array<{ hit: boolean; wrong: boolean }> = []
  let atFifth: { budget: BudgetStatus; calls: number } | undefined
  const callsBefore = upstream.calls.count
  for (const [i, pair] of stream.entries()) {
    if (i === Math.floor(stream.length / 5)) {
      atFifth = { budget: (await gateway.health())!.budget, calls: upstream.calls.count }
    }
    const { layer, answer } = await gateway.ask(pair.similar)
    const hit = layer === "l1b"
    outcomes.push({ hit, wrong: hit && answer !== answers.get(pair.similar) })
  }
  const end = (await gateway.health())!.budget
  if (process.env.DEBUG_BUDGET) console.log(JSON.stringify(end))
  await gateway.close()
  upstream.close()
  const half = outcomes.slice(Math.floor(outcomes.length / 2))
  const hits = (list: typeof outcomes) => list.filter((outcome) => outcome.hit).length
  const wrong = (list: typeof outcomes) => list.filter((outcome) => outcome.wrong).length
  const after = atFifth!
  const explored = end.explored_hits - after.budget.explored_hits
  const wouldBe = explored + end.served_hits - after.budget.served_hits + end.withheld_hits -
    after.budget.withheld_hits
  return {
    file: name,
    decision: options.decision,
    budget,
    questions: stream.length,
    origins_cached: cached,
    hit_rate: Number((hits(outcomes) / outcomes.length).toFixed(4)),
    second_half_hit_rate: Number((hits(half) / half.length).toFixed(4)),
    second_half_false_hit_rate: Number((wrong(half) / Math.max(1, hits(half))).toFixed(4)),
    false_hits_second_half: wrong(half),
    exploration_of_would_be_hits_after_20pct: Number((explored / Math.max(1, wouldBe)).toFixed(4)),
    exploration_of_upstream_calls_after_20pct: Number(
      (explored / Math.max(1, upstream.calls.count - after.calls)).toFixed(4)
    ),
    upstream_calls: upstream.calls.count - callsBefore
  }
}

export const runStream = async (
  options: { budgets?: string; limit?: string; seed?: string; decision?: string; pairs?: string; threshold?: string }
) => {
  const decision = options.decision ?? "learned"
  const budgets = (options.budgets ?? "0.02,0.05,0.1").split(",").map(Number)
  const seed = Number(options.seed ?? "1")
  const limit = options.limit === undefined ? Number.POSITIVE_INFINITY : Number(options.limit)
  const files = await streamFiles(options.pairs)
  const rows = []
  for (const file of files) {
    for (const budget of budgets) {
      const row = await runOne(file.name, file.pairs.slice(0, limit), budget, {
        seed,
        decision,
        scoreThreshold: options.threshold
      })
      console.log(JSON.stringify(row))
      rows.push(row)
    }
  }
  console.table(rows.map(({ file, ...row }) => ({ file: file.slice(0, 12), ...row })))
  const load = loadavg().map((value) => value.toFixed(2)).join(" ")
  console.log(`node ${process.version}, load average ${load}, seed ${seed}`)
  await writeResults("semantic-stream", { runtime: `node ${process.version}`, load, seed, rows })
}
