import { EmbeddingsModel } from "@energetic-ai/embeddings"
import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { describe, it } from "node:test"
import { QQP_DEV, readPairs } from "../../bench/l1bData.ts"
import { pieceLattice } from "../../runtimes/embedding/pieceLattice.ts"
import { loadVocabulary } from "../../runtimes/embedding/useLiteStatic.ts"

// The fast encoder's pieces come from this lattice: any text it splits otherwise than the package would move the
// shipped table's vectors, hence what L1b answers.
const vocabulary = await loadVocabulary()
const packaged = new EmbeddingsModel({
  vocabulary,
  model: undefined as unknown as ConstructorParameters<typeof EmbeddingsModel>[0]["model"]
}).tokenizer
const lattice = pieceLattice(vocabulary)

const GPTCACHE = new URL("../../../shared/data/gptcache-mock-pairs.json", import.meta.url)

describe("USE-lite's piece lattice", () => {
  it("splits texts as @energetic-ai/embeddings' tokenizer does, unknown symbols and normalisation included", () => {
    const texts = [
      "",
      " ",
      "a",
      "How do I manage 57-123456789 in the dashboard?",
      "a 57-123456789",
      ": a colon first",
      "Cheers :) :-/ and 10:00 at https://example.com/a_b?c=1",
      "tabs\tand\nnew lines, `load_from_disk()` and camelCase",
      "two  spaces",
      " leading and trailing ",
      "naïve café — déjà vu",
      // Symbols no piece holds (each an unknown, runs merged), astral ones included, and what NFKC rewrites.
      "日本語のテキスト 🙂🙂 ok",
      "ﬁne ｆｕｌｌｗｉｄｔｈ ①②",
      "\u0000\u0001 control",
      "plzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
      "x".repeat(300)
    ]
    for (const text of texts) assert.deepEqual(lattice.encode(text), packaged.encode(text), JSON.stringify(text))
  })

  // The labelled pairs are not part of the repository (../shared/data): without them, a skip that says so.
  // A third of the QQP questions (every one, as written and in lower case, were checked once: 0 differences).
  it("splits the QQP development pairs' questions and GPTCache's as the package does", {
    skip: existsSync(QQP_DEV) ? false : `${QQP_DEV} is not beside this checkout`
  }, async () => {
    const { pairs } = await readPairs()
    const gptcache = existsSync(GPTCACHE)
      ? JSON.parse(await readFile(GPTCACHE, "utf8")) as Array<{ origin: string; similar: string }>
      : []
    const texts = new Set(
      [...pairs.filter((_, line) => line % 3 === 0), ...gptcache].flatMap((pair) => [pair.origin, pair.similar])
    )
    let differ = 0
    let first: string | undefined
    for (const text of texts) {
      // As the fast encoder reads them: in lower case.
      const lower = text.toLowerCase()
      if (JSON.stringify(lattice.encode(lower)) !== JSON.stringify(packaged.encode(lower))) {
        differ++
        first ??= lower
      }
    }
    assert.equal(differ, 0, `first text split otherwise: ${JSON.stringify(first)}`)
  })
})
