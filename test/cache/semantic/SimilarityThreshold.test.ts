import assert from "node:assert/strict"
import { describe, it } from "node:test"
import type { SemanticBackends } from "../../../core/Gateway.ts"
import { loadHnswlib } from "../../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../../runtimes/embedding/useLite.ts"
import type { FakeModel } from "../../support/fakeModel.ts"
import { textOf } from "../../support/fakeModel.ts"
import {
  askNative as ask,
  fakeUpstreamGateways,
  rememberingVectors,
  type RunningGateway,
  semanticGateways,
  upstreamEnv,
  withTestGateway
} from "../../support/gateway.ts"

// `similarity_threshold` is a floor on the cosine L1b reports (X-Isartor-Similarity) under either decision: nothing
// below it is served, and raising it never adds a hit. Checked through the real cache and the real encoder, on
// pairs from near-identical to loose rewordings.

// Sixteen gateways ask the same 24 prompts: each prompt is encoded once.
const model = rememberingVectors(await loadUseLite({ fast: true }))
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }
const { withGateway } = semanticGateways(backends)

const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ["How do I reset my password?", "how do i reset my password"],
  ["How do I reset my password?", "How can I reset my password?"],
  ["What is the capital of Australia?", "What's the capital city of Australia?"],
  ["How do I export my contacts to a spreadsheet?", "How can I export my contacts into a spreadsheet?"],
  ["What are the health benefits of green tea?", "Is green tea good for your health?"],
  ["How do I make my laptop battery last longer?", "How can I extend the battery life of my laptop?"],
  ["What is the best way to learn to play guitar?", "How should I learn to play the guitar?"],
  ["Why is the sky blue?", "What makes the sky look blue?"],
  ["How do I change a flat tire?", "What are the steps to change a flat tyre?"],
  ["What time zone is Tokyo in?", "Which time zone does Tokyo use?"],
  ["How do I cancel my subscription?", "How can I cancel my subscription?"],
  ["What should I pack for a trip to Iceland?", "What do I need to bring when travelling to Iceland?"]
]

/** Each pair's paraphrase asked after every origin is cached: the cosine of its hit, or undefined on a miss. */
const served = async (gateway: RunningGateway) => {
  for (const [origin] of PAIRS) await ask(gateway, origin)
  const out: Array<number | undefined> = []
  for (const [, paraphrase] of PAIRS) {
    const answer = await ask(gateway, paraphrase)
    out.push(answer.layer === "l1b" ? answer.similarity : undefined)
  }
  return out
}

/** Floors from low to high; unset, each decision's own (0.5 learned, 0.85 cosine) takes its place in the order. */
const THRESHOLDS = {
  learned: [undefined, 0.55, 0.7, 0.8, 0.88, 0.93, 0.97, 0.995],
  cosine: [0.55, 0.7, 0.8, undefined, 0.88, 0.93, 0.97, 0.995]
} as const
const UNSET = { learned: 0.5, cosine: 0.85 } as const

for (const decision of ["learned", "cosine"] as const) {
  describe(`similarity_threshold under the ${decision} decision`, () => {
    it("serves nothing below it, and raising it never adds a hit", async () => {
      let previous: ReadonlyArray<number | undefined> | undefined
      const counts: Array<number> = []
      for (const threshold of THRESHOLDS[decision]) {
        const env = {
          ISARTOR__L1B_DECISION: decision,
          ...(threshold === undefined ? {} : { ISARTOR__SIMILARITY_THRESHOLD: String(threshold) }),
          // The cosine decision's first stage would otherwise serve only above its own cut.
          ...(decision === "cosine" ? { ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" } : {})
        }
        let hits: ReadonlyArray<number | undefined> = []
        await withGateway(env, async (gateway) => void (hits = await served(gateway)))
        hits.forEach((cosine, n) => {
          const floor = threshold ?? UNSET[decision]
          if (cosine !== undefined) {
            assert.ok(cosine >= floor, `pair ${n} served at cosine ${cosine} under similarity_threshold ${threshold}`)
          }
          if (previous !== undefined && cosine !== undefined) {
            assert.notEqual(previous[n], undefined, `pair ${n} is served at ${threshold}, but not at a lower floor`)
          }
        })
        previous = hits
        counts.push(hits.filter((cosine) => cosine !== undefined).length)
      }
      console.log(`${decision}: served per threshold ${counts.join(", ")}`)
      // The floor bites: the lowest serves most pairs, the strictest none or only the near-identical ones.
      assert.ok(counts[0]! >= PAIRS.length / 2, `served per threshold: ${counts.join(", ")}`)
      assert.ok(counts.at(-1)! < counts[0]!, `served per threshold: ${counts.join(", ")}`)
    })
  })
}

// Under a budget the cosine decision's stages are counted apart, and a cold stage refuses its would-be hits. A
// refusal at the fast stage must leave the full model its look: otherwise a floor above the fast stage's cut, which
// sends a pair straight to the full model, serves what a lower floor refuses — raising it adds a hit.
const WARM_UP: ReadonlyArray<readonly [string, string]> = [
  // Each below the fast stage's cut (0.93) and above 0.85 on the full model: the full model's would-be hits.
  ["How do I make my laptop battery last longer?", "How can I extend the battery life of my laptop?"],
  ["What time zone is Tokyo in?", "Which time zone does Tokyo use?"],
  ["What is the best way to learn to play guitar?", "How should I learn to play the guitar?"]
]
// ≈ 0.97 on the fast encoder, ≈ 0.99 on the full model: at a floor of 0.98 only the full model sees it.
const CHECKED: readonly [string, string] = ["How do I reset my password?", "How can I reset my password?"]

/** The upstream that knows the truth: a question and its paraphrase get the same answer, so every label is right. */
const truth: FakeModel = {
  promptTokens: 9,
  reply: (_, body) => {
    const question = textOf(body.messages.at(-1).content)
    const pair = [...WARM_UP, CHECKED].findIndex((texts) => texts.includes(question))
    return { kind: "text", text: `The answer about topic ${pair}.` }
  }
}
const truthFile = fakeUpstreamGateways({}, { kind: "providers", model: truth })

const exploredHits = async (gateway: RunningGateway) =>
  ((await (await fetch(`${gateway.url}/health`)).json()) as { layers: { l1b: { budget: { explored_hits: number } } } })
    .layers.l1b.budget.explored_hits

describe("similarity_threshold under the cosine decision with a false-hit budget", () => {
  it("a would-be hit the fast stage refuses still gets the full model's look: raising the floor adds no hit", async () => {
    const env = { ISARTOR__L1B_DECISION: "cosine", ISARTOR__L1B_ERROR_BUDGET: "0.5" }
    const admitted: Array<boolean> = []
    for (const floor of [undefined, 0.98]) {
      await withTestGateway(upstreamEnv(`${truthFile.upstream.url}/v1`, env), async (gateway) => {
        for (const [origin] of [...WARM_UP, CHECKED]) assert.equal((await ask(gateway, origin)).layer, "l3")
        // Three right labels on the full model's would-be hits: its stage's bound is then under 0.5, the fast
        // stage's (nothing seen) still 1.
        for (const [, paraphrase] of WARM_UP) assert.equal((await ask(gateway, paraphrase)).layer, "l3", "cold")
        const explored = await exploredHits(gateway)
        const headers: Record<string, string> = floor === undefined
          ? {}
          : { "x-isartor-similarity-threshold": String(floor) }
        const answer = await ask(gateway, CHECKED[1], headers)
        // Served, or (one time in twenty) sent upstream to check a hit the budget would serve.
        admitted.push(answer.layer === "l1b" || (await exploredHits(gateway)) > explored)
        if (answer.layer === "l1b") assert.equal(answer.stage, "model")
      }, backends)
    }
    assert.deepEqual(admitted, [true, true], "admitted at the decision's floor and at 0.98")
  })
})
