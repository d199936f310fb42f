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

const BLOCK_OF = (inner: string) => `<system-reminder>${inner}</system-reminder>`

/** Text shaped against the optimiser's own scans (tags, comments, fences and space runs), and what is sent of it. */
const againstTheOptimiser: Record<string, { make: () => string; sent: (text: string) => void }> = {
  "openings never closed": {
    make: () => `${repeat("<system-reminder>")}</x>`,
    sent: (text) => assert.equal(sentOf(text), text, "no block: nothing changes")
  },
  "openings of every tag, then one closing": {
    make: () => `${repeat("<rules><INSTRUCTIONS><instructions>")}</rules>`,
    sent: (text) => assert.equal(sentOf(text), text, "one block without whitespace or comments: nothing to shrink")
  },
  "comments never closed in a block": {
    make: () => BLOCK_OF(repeat("<!--")),
    sent: (text) => assert.equal(sentOf(text), text, "an unclosed comment stays")
  },
  "spaces then a letter, in a block": {
    make: () => BLOCK_OF(`a${repeat(" ")}x`),
    sent: (text) => assert.equal(sentOf(text), BLOCK_OF("a x"))
  },
  "fence lines": {
    make: () => `<system-reminder>\n${repeat("```\n")}</system-reminder>`,
    sent: (text) => assert.equal(sentOf(text), text, "fences stay byte for byte")
  },
  "blank lines in a block": {
    make: () => BLOCK_OF(`${repeat("\n")}x`),
    sent: (text) => assert.equal(sentOf(text), BLOCK_OF("\n\nx"))
  },
  "many small blocks, repeated": {
    make: () => repeat(BLOCK_OF("r".repeat(250))),
    sent: (text) => {
      const sent = sentOf(text)
      const first = BLOCK_OF("r".repeat(250))
      assert.ok(sent.startsWith(first), "the first copy is sent whole")
      assert.equal(
        sent.split("(Unchanged: ").length - 1,
        text.split(first).length - 2,
        "every later copy is a reference"
      )
    }
  }
}

const optimised = (text: string) =>
  optimiseBody("openai", { messages: [{ role: "system", content: "s" }, { role: "user", content: text }] }, count)
const sentOf = (text: string) => (optimised(text).body.messages as Array<{ content: string }>)[1]!.content
const withoutSpace = (text: string) => text.replace(/\s+/g, "")

describe("the context optimiser reads adversarial text to the end", () => {
  it("the shared adversarial strings, in and out of a block", { timeout: 60_000 }, () => {
    for (const [name, make] of Object.entries(adversarial)) {
      const text = make(SIZE)
      assert.equal(optimised(text).saved, 0, "text outside any block is not touched")
      const wrapped = BLOCK_OF(text)
      const sent = sentOf(wrapped)
      // Without comments in them, only whitespace may go: every other character is sent, in order.
      assert.ok(sent.startsWith("<system-reminder>") && sent.endsWith("</system-reminder>"), name)
      assert.ok(withoutSpace(sent) === withoutSpace(wrapped), name)
    }
  })

  for (const [name, { make, sent }] of Object.entries(againstTheOptimiser)) {
    it(name, { timeout: 60_000 }, () => sent(make()))
  }

  it("an unclosed block is left as it is", () => {
    const text = `<system-reminder>\n\n\n\nnever closed   \n`
    assert.equal(optimised(text).saved, 0)
  })
})
