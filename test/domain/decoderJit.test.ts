import fc from "fast-check"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { after, before, describe, it } from "node:test"
import { Worker } from "node:worker_threads"
import { type DecoderKind, loadDecoders } from "./decoderOutcomes.ts"

// The request decoders compile their schemas (Effect's JIT compiler). A compiled guard that accepted what the
// interpreted one refuses would let a bad body through to the pipeline; one that refused what it accepts would turn
// a client away. Here every decoder answers a corpus of real bodies and random breakages of them both ways, the
// interpreted in a worker thread of its own, and the answers (the value, or the client's message) must be the same.

const recorded = (file: string) =>
  (JSON.parse(readFileSync(new URL(`../fixtures/clients/${file}`, import.meta.url), "utf8")) as Array<
    { readonly body: unknown }
  >)[0]!.body

const seeds: Record<DecoderKind, unknown> = {
  anthropic: recorded("claude-code.json"),
  responses: recorded("codex.json"),
  openai: {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "What is in this picture?" }] },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]
      },
      { role: "tool", tool_call_id: "c1", content: "42" }
    ],
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
    stream: true,
    temperature: 0.2
  },
  native: { prompt: "What is the capital of France?", model: "gpt-4o-mini" },
  gemini: {
    contents: [{ role: "user", parts: [{ text: "Hello" }] }],
    systemInstruction: { parts: [{ text: "Be brief." }] },
    generationConfig: { temperature: 0.1, maxOutputTokens: 100, stopSequences: ["END"] }
  },
  embeddings: { model: "text-embedding-3-small", input: ["one", "two"] }
}

/** The paths of every value in `value`, the root's included. */
const pathsOf = (value: unknown, at: Array<string | number> = []): Array<Array<string | number>> => [
  at,
  ...(Array.isArray(value)
    ? value.flatMap((inner, index) => pathsOf(inner, [...at, index]))
    : typeof value === "object" && value !== null
    ? Object.entries(value).flatMap(([field, inner]) => pathsOf(inner, [...at, field]))
    : [])
]

/** `value` with what is at `path` replaced by `by` (`undefined`: removed). */
const broken = (value: unknown, path: ReadonlyArray<string | number>, by: unknown): unknown => {
  if (path.length === 0) return by
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) }
  const [head, ...rest] = path
  if (rest.length === 0 && by === undefined) {
    if (Array.isArray(copy)) copy.splice(head as number, 1)
    else delete copy[head!]
  } else copy[head!] = broken(copy[head!], rest, by)
  return copy
}

const replacements = [undefined, null, 0, -1.5, "", "x", true, [], {}, [{}], { type: "text" }, { role: "user" }]

describe("request decoders, compiled and interpreted", () => {
  let worker: Worker
  let outcomeOf: Awaited<ReturnType<typeof loadDecoders>>
  before(async () => {
    // A worker does not inherit the test's TypeScript loader (tsx): it registers it, then loads the worker's module.
    const entry = JSON.stringify(new URL("./decoderJit.worker.ts", import.meta.url).href)
    worker = new Worker(
      `import("tsx/esm/api").then(({ register }) => { register(); return import(${entry}) })`,
      { eval: true }
    )
    await new Promise((resolve, reject) => {
      worker.once("message", resolve)
      worker.once("error", reject)
    })
    outcomeOf = await loadDecoders()
  })
  after(() => worker.terminate())
  // One question at a time: each answer is the one asked for.
  const interpreted = (kind: DecoderKind, body: unknown) =>
    new Promise<string>((resolve, reject) => {
      const failed = (error: Error) => reject(error)
      worker.once("error", failed)
      worker.once("message", (answer: string) => {
        worker.off("error", failed)
        resolve(answer)
      })
      worker.postMessage({ kind, body })
    })

  for (const kind of Object.keys(seeds) as Array<DecoderKind>) {
    it(`${kind}: the same answer for every body`, async () => {
      const seed = seeds[kind]
      const paths = pathsOf(seed)
      const outcomes = { ok: 0, refused: 0 }
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: paths.length - 1 }),
          fc.integer({ min: 0, max: replacements.length - 1 }),
          async (at, by) => {
            const body = broken(seed, paths[at]!, replacements[by])
            const compiled = outcomeOf(kind, body)
            outcomes[compiled.startsWith("ok") ? "ok" : "refused"]++
            assert.equal(compiled, await interpreted(kind, body))
          }
        ),
        { numRuns: 300, seed: 20261207 }
      )
      assert.equal(outcomeOf(kind, seed), await interpreted(kind, seed))
      assert.ok(outcomeOf(kind, seed).startsWith("ok"), `the ${kind} seed body is valid`)
      // Both kinds of answer were compared: the breakages reach the schema's refusals.
      assert.ok(outcomes.refused > 0 && outcomes.ok > 0, JSON.stringify(outcomes))
    })
  }
})
