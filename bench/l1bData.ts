// The development pairs the learned L1b decision is trained on, and how they are split. Shared by the training
// command (bench/train-l1b.ts), the quality bench (bench/semantic.ts --split) and the test that checks the shipped
// weights still match their training inputs.
import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"

/** Quora question pairs (see ../shared/data/README.md): the only data the decision is trained or tuned on. */
export const QQP_DEV = fileURLToPath(new URL("../../shared/data/qqp-dev.jsonl", import.meta.url))

export interface LabelledPair {
  readonly origin: string
  readonly similar: string
  readonly label: number
}

/**
 * `train`: fits the weights (80 %); `tune`: picks the epoch and the threshold (10 %); `heldout`: only ever measured
 * (10 %, less any pair sharing a question with `train`), the Quora sample `npm run bench:semantic -- --split heldout`
 * reports on. Decided by a hash of the pair's line number, so the split is the same on every machine.
 */
export type Split = "train" | "tune" | "heldout"

export const splitOf = (line: number): Split => {
  let h = Math.imul(line ^ 0x9e3779b9, 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  const bucket = ((h ^ (h >>> 16)) >>> 0) % 10
  return bucket < 8 ? "train" : bucket === 8 ? "tune" : "heldout"
}

export const readPairs = async (file = QQP_DEV) => {
  const bytes = await readFile(file)
  const pairs = bytes.toString("utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as LabelledPair)
  return { pairs, digest: createHash("sha256").update(bytes).digest("hex").slice(0, 16) }
}

/** The pairs of a split, by line; `heldout` leaves out pairs that share a question with a training pair. */
export const pairsOf = (pairs: ReadonlyArray<LabelledPair>, split: Split): Array<LabelledPair> => {
  const chosen = pairs.filter((_, line) => splitOf(line) === split)
  if (split !== "heldout") return chosen
  const seen = new Set(
    pairs.filter((_, line) => splitOf(line) === "train").flatMap((pair) => [pair.origin, pair.similar])
  )
  return chosen.filter((pair) => !seen.has(pair.origin) && !seen.has(pair.similar))
}

/** The source files whose content decides what training produces; the shipped weights record their digest. */
export const TRAINING_SOURCES = [
  "bench/train-l1b.ts",
  "bench/l1bData.ts",
  "core/cache/semantic/decision/features.ts",
  "core/cache/semantic/SemanticVerifier.ts",
  "core/cache/semantic/namesOf.ts",
  // Its graph finds the hard negatives the scorer trains on: other settings, other neighbours, other weights.
  "core/cache/semantic/VectorIndex.ts",
  "runtimes/embedding/useLiteStatic.ts",
  // The fast encoder's pieces: the table's training reads texts through it.
  "runtimes/embedding/pieceLattice.ts"
] as const

export const sourcesDigest = async (root: URL) => {
  const hash = createHash("sha256")
  for (const path of TRAINING_SOURCES) hash.update(path).update(await readFile(new URL(path, root)))
  return hash.digest("hex").slice(0, 16)
}
