import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { estimateInputTokens } from "../../core/formats/anthropic/tokens.ts"
import { estimateUsageInput } from "../../core/gateway/usage.ts"
import { makeLedger } from "../../core/usage/ledger.ts"
import type { UsageNote } from "../../core/usage/recorder.ts"
import type { UsageFamily, UsageLayer } from "../../core/usage/UsageRow.ts"
import { makeMemoryStore } from "../../core/usage/UsageStore.ts"

// An answer that came without usage (a stream not asked for it, a provider that sends none) is counted with the
// input the gateway estimates from the request, in whichever API the client spoke — never as 0 tokens in.

const question = "How many tokens does the gateway estimate this question to be, in each API it serves?"
const bodies: ReadonlyArray<readonly [UsageFamily, Record<string, unknown>]> = [
  ["chat", { model: "gpt-4o-mini", messages: [{ role: "user", content: question }] }],
  ["responses", { model: "gpt-4o-mini", instructions: "Answer briefly.", input: question }],
  ["responses", { model: "gpt-4o-mini", input: [{ role: "user", content: [{ type: "input_text", text: question }] }] }],
  ["embeddings", { model: "text-embedding-3-small", input: [question, question] }]
]

/** The row the ledger keeps of one answer without usage, in a family. */
const rowOf = (family: UsageFamily, body: Record<string, unknown>, layer: UsageLayer) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const ledger = yield* makeLedger({
      store: makeMemoryStore(),
      retentionMs: 86_400_000,
      priced: () => true,
      estimateInput: estimateUsageInput
    })
    const note: UsageNote = {
      tenant: "caller|",
      modelAsked: String(body.model),
      body,
      tokens: { input: 0, output: family === "embeddings" ? 0 : 12, model: String(body.model), estimated: true }
    }
    ledger.recordNote(note, family, layer, "openai", 200, 3, Date.now())
    const [row] = yield* ledger.recent(1)
    return row!
  })))

describe("the usage ledger's input estimate", () => {
  for (const [family, body] of bodies) {
    it(`counts the input of a ${family} request answered without usage (${JSON.stringify(body).slice(0, 60)}…)`, async () => {
      const row = await rowOf(family, body, "l3")
      const questionAlone = await estimateInputTokens({ messages: [{ content: question }] })
      assert.equal(row.tokens_estimated, true)
      assert.ok(row.tokens_in >= questionAlone - 4, `${row.tokens_in} tokens in, the question alone ${questionAlone}`)
      assert.equal(row.tokens_in, await estimateUsageInput(body, family))
    })
  }

  it("counts an embeddings request's token arrays as sent", async () => {
    assert.equal(await estimateUsageInput({ input: [[1, 2, 3], [4, 5]] }, "embeddings"), 5)
  })
})
