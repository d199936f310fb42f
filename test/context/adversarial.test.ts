import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { optimiseBody } from "../../core/context/ContextOptimizer.ts"
import { adversarial } from "../support/adversarialText.ts"

// The optimiser reads every user turn of an L3 request: adversarial text (runs that make a backtracking scan retry
// from each position) of 1 MB is read to the end. A quadratic scan would take hours; the timeout makes it a failure.
// How long each takes is not asserted (bench/ holds timings).

const count = (text: string) => Math.ceil(text.length / 4)
const SIZE = 1024 * 1024
const repeat = (unit: string, size = SIZE) => unit.repeat(Math.floor(size / unit.length))

/** Text shaped against the optimiser's own scans: tags, comments, fences and space runs. */
const againstTheOptimiser: Record<string, () => string> = {
  "openings never closed": () => `${repeat("<system-reminder>")}</x>`,
  "openings of every tag, then one closing": () => `${repeat("<rules><INSTRUCTIONS><instructions>")}</rules>`,
  "comments never closed in a block": () => `<system-reminder>${repeat("<!--")}</system-reminder>`,
  "spaces then a letter, in a block": () => `<system-reminder>a${repeat(" ")}x</system-reminder>`,
  "fence lines": () => `<system-reminder>\n${repeat("```\n")}</system-reminder>`,
  "blank lines in a block": () => `<system-reminder>${repeat("\n")}x</system-reminder>`,
  "many small blocks, repeated": () => repeat(`<system-reminder>${"r".repeat(250)}</system-reminder>`)
}

const optimised = (text: string) =>
  optimiseBody("openai", { messages: [{ role: "system", content: "s" }, { role: "user", content: text }] }, count)

describe("the context optimiser reads adversarial text to the end", () => {
  it("the shared adversarial strings, in and out of a block", { timeout: 60_000 }, () => {
    for (const make of Object.values(adversarial)) {
      const text = make(SIZE)
      assert.equal(optimised(text).saved, 0, "text outside any block is not touched")
      optimised(`<system-reminder>${text}</system-reminder>`)
    }
  })

  for (const [name, make] of Object.entries(againstTheOptimiser)) {
    it(name, { timeout: 60_000 }, () => {
      const text = make()
      const result = optimised(text)
      const sent = (result.body.messages as Array<{ content: string }>)[1]!.content
      assert.ok(sent.length <= text.length)
    })
  }

  it("an unclosed block is left as it is", () => {
    const text = `<system-reminder>\n\n\n\nnever closed   \n`
    assert.equal(optimised(text).saved, 0)
  })
})
