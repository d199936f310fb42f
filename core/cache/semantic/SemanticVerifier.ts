/**
 * The false-hit defence behind the cosine threshold: a cached question may answer a new one only if the two
 * agree on what cosine similarity glosses over — the numbers they mention, whether they are negated, the names in
 * code, the proper names (places, products, people) and enough of their words.
 */

import { identifiersOf, properNamesOf } from "./namesOf.ts"

export { identifiersOf, properNamesOf } from "./namesOf.ts"

const NEGATIONS = new Set([
  "not",
  "no",
  "never",
  "without",
  "cannot",
  "cant",
  "dont",
  "doesnt",
  "isnt",
  "arent",
  "wont",
  "shouldnt",
  "didnt",
  "nor",
  // Said without "not": "non-streaming", "in the absence of", "lacks", "omitting", "none".
  "non",
  "absence",
  "absent",
  "lack",
  "lacks",
  "lacking",
  "omit",
  "omits",
  "omitting",
  "excluding",
  "except",
  "none",
  "nothing",
  "neither",
  "nobody"
])

const STOPWORDS = new Set(
  ("a an the is are was were be been being am do does did doing have has had having i me my we our you your he him his she her it its they them their " +
    "what which who whom whose this that these those to of in on at by for with about into through during before after above below from up down " +
    "out off over under again further then once here there when where why how all any both each few more most other some such only own same so " +
    "than too very can will just should would could may might must shall and or but if because as until while s t get best good way ways use using " +
    "make one someone something thing things tell know want need please").split(" ")
)

const normalise = (text: string) => text.toLowerCase().replace(/[’']/g, "").replace(/n't\b/g, "nt")

const tokens = (text: string) => normalise(text).match(/[a-z0-9][a-z0-9+#.]*[a-z0-9+#]|[a-z0-9]/g) ?? []

const numbersOf = (text: string) => new Set(text.match(/\d+(?:[.,]\d+)?/g) ?? [])

const flatten = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, "")

/** The capitals of a CamelCase name: "JavaScript" may be written "JS". */
const acronymOf = (
  name: string
) => (/^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(name) ? name.replace(/[a-z]/g, "").toLowerCase() : undefined)

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((item) => b.has(item))

/**
 * Whether a text names other numbers than an analysed one (`pairSignals(a, analyse(text)).numbersDiffer`), told by
 * one regex: a pair it holds for is refused whatever else it shares, so the text's full reading can wait.
 */
export const numbersDifferFrom = (a: Analysis, text: string): boolean => !sameSet(a.numbers, numbersOf(text))

/** A crude stem, so "learning" and "learn", "passwords" and "password" count as one word. */
const stem = (word: string) => word.replace(/(ing|ed|es|s)$/, "")

const singular = (word: string) => word.replace(/e?s$/, "")

/**
 * The longest text the verifier reads; it accepts no longer one (such a prompt is served again only by L1a, as its
 * exact twin). It is what the default embedder reads (USE-lite cuts at 2,048 characters; 512-token models read
 * about as much): past it, similarity says nothing, so reading only the start would accept two long prompts that
 * differ further on. The bound also keeps a lookup of the worst text to a few tens of milliseconds.
 */
export const MAX_VERIFIED_CHARS = 2048

/** How a name may be written in a text: each run of up to 8 of its words joined (and singular), and its initials. */
interface Phrases {
  /** The longest name they are complete for: longer runs cannot be a name, even a plural one. */
  readonly longest: number
  readonly runs: Set<string>
  readonly initials: Set<string>
}

const phrasesOf = (words: ReadonlyArray<string>, longest: number): Phrases => {
  const runs = new Set<string>()
  const initials = new Set<string>()
  for (let i = 0; i < words.length; i++) {
    const last = Math.min(words.length, i + 8)
    for (let j = i, run = words[i]!; run.length <= longest + 2; run += words[j]!) {
      runs.add(run)
      if (run.endsWith("s")) runs.add(singular(run))
      if (++j === last) break
    }
    for (let j = i, firsts = ""; j < Math.min(last, i + longest); j++) initials.add(firsts += words[j]![0])
  }
  return { longest, runs, initials }
}

/** What the verifier reads in a text, worked out once per text (a lookup reuses the query's for every candidate). */
export interface Analysis {
  /** False past `MAX_VERIFIED_CHARS`: nothing else is worked out, and the verifier accepts nothing. */
  readonly verifiable: boolean
  readonly numbers: Set<string>
  readonly identifiers: ReadonlyArray<string>
  readonly properNames: ReadonlyArray<string>
  readonly negated: boolean
  readonly contentWords: Set<string>
  /** The text's words, lower case, split at anything but letters and digits: what names are looked for in. */
  readonly words: ReadonlyArray<string>
  readonly acronyms: Set<string>
  readonly flat: string
  /** For names up to `longest` characters; built on first use (most texts are never searched for a name). */
  readonly phrases: (longest: number) => Phrases
}

const unverifiable: Analysis = {
  verifiable: false,
  numbers: new Set(),
  identifiers: [],
  properNames: [],
  negated: false,
  contentWords: new Set(),
  words: [],
  acronyms: new Set(),
  flat: "",
  phrases: (longest) => ({ longest, runs: new Set(), initials: new Set() })
}

/** The analysis of a text of any length, in time linear in it; `analyse` reads only texts up to the cap. */
export const analyseText = (text: string): Analysis => {
  const words = tokens(text)
  const plainWords = text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean)
  let phrases: Phrases | undefined
  return {
    verifiable: true,
    numbers: numbersOf(text),
    identifiers: [...identifiersOf(text)],
    properNames: [...properNamesOf(text)],
    negated: words.some((word) => NEGATIONS.has(word)),
    contentWords: new Set(words.filter((word) => !STOPWORDS.has(word) && !/^\d/.test(word)).map(stem)),
    words: plainWords,
    acronyms: new Set(
      (text.match(/\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b/g) ?? []).map((camel) => camel.replace(/[a-z]/g, "").toLowerCase())
    ),
    flat: flatten(text),
    phrases: (longest) =>
      phrases !== undefined && phrases.longest >= longest ? phrases : (phrases = phrasesOf(plainWords, longest))
  }
}

/** What the verifier reads in a text of at most `MAX_VERIFIED_CHARS`; a longer one is unverifiable. */
export const analyse = (text: string): Analysis => (text.length > MAX_VERIFIED_CHARS ? unverifiable : analyseText(text))

/**
 * Whether a text mentions a (flattened) name: as a run of up to 8 of its words, whatever the spacing, case,
 * punctuation or plural ("Hugging Face" / "huggingface", "`Dataset.push_to_hub()`" / "Dataset.push_to_hub"), as the
 * initials of a run of words or of a CamelCase word ("ML" / "Machine Learning", "TS" / "TypeScript"), or, for a long
 * name, inside a longer one. Set lookups: scanning the words once per name was quadratic in a text full of names.
 */
const mentions = (text: Analysis, name: string, phrases: Phrases): boolean =>
  text.acronyms.has(name) || (name.length >= 6 && text.flat.includes(name)) || phrases.runs.has(name) ||
  phrases.runs.has(singular(name)) || phrases.initials.has(name)

/** Whether any of the names is not mentioned in the text. */
const anyUnmentioned = (names: ReadonlyArray<string>, text: Analysis) => {
  const forms = names.map((name) => ({ flat: flatten(name), acronym: acronymOf(name) }))
    .filter(({ flat }) => flat !== "")
  if (forms.length === 0) return false
  const phrases = text.phrases(forms.reduce((longest, { flat }) => Math.max(longest, flat.length), 0))
  return forms.some(({ flat, acronym }) =>
    !mentions(text, flat, phrases) && !(acronym && mentions(text, acronym, phrases))
  )
}

export interface Verdict {
  readonly accept: boolean
  readonly reason: string
}

export interface VerifierOptions {
  /** Below this cosine, every content word of the shorter question must appear in the other. */
  readonly strictBelow: number
  /** Fraction of content words the two questions must share (over the smaller set). */
  readonly minOverlap: number
}

/**
 * Chosen on the development data (`npm run bench:quality -- --sweep`): at the default threshold, a word-overlap
 * floor of a third lifts precision on both files for a small loss of hits; the strict rule costs more hits than
 * it saves, so it is off (0) by default.
 */
export const defaultVerifierOptions: VerifierOptions = { strictBelow: 0, minOverlap: 0.34 }

/** What the verifier compares in two verifiable texts, each check on its own: the learned decision reads them as features. */
export interface PairSignals {
  readonly numbersDiffer: boolean
  readonly codeNamesDiffer: boolean
  /** A name swapped for another: each side names something the other does not mention. */
  readonly properNamesDiffer: boolean
  readonly negationDiffers: boolean
  /** Content words shared, over the smaller set (1 when either has none). */
  readonly overlap: number
  /** Content words shared, over both sets together (1 when both have none). */
  readonly jaccard: number
}

export const pairSignals = (a: Analysis, b: Analysis): PairSignals => {
  const wordsA = a.contentWords
  const wordsB = b.contentWords
  let shared = 0
  for (const word of wordsA) if (wordsB.has(word)) shared++
  const smaller = Math.min(wordsA.size, wordsB.size)
  const union = wordsA.size + wordsB.size - shared
  return {
    numbersDiffer: !sameSet(a.numbers, b.numbers),
    codeNamesDiffer: anyUnmentioned(a.identifiers, b) || anyUnmentioned(b.identifiers, a),
    // A name only one side has may just be context ("Hillary" / "Hillary Clinton"); a name swapped for another is a
    // different question ("… in Seattle" / "… in Atlanta", "magnesium Oxide" / "Carbonate").
    properNamesDiffer: anyUnmentioned(a.properNames, b) && anyUnmentioned(b.properNames, a),
    negationDiffers: a.negated !== b.negated,
    overlap: smaller === 0 ? 1 : shared / smaller,
    jaccard: union === 0 ? 1 : shared / union
  }
}

/** The verifier's verdict on two verifiable texts whose signals are already worked out. */
export const verdictOf = (
  a: Analysis,
  b: Analysis,
  signals: PairSignals,
  similarity: number,
  options: VerifierOptions = defaultVerifierOptions
): Verdict => {
  if (signals.numbersDiffer) return { accept: false, reason: "numbers differ" }
  if (signals.codeNamesDiffer) return { accept: false, reason: "names in code differ" }
  if (signals.properNamesDiffer) return { accept: false, reason: "proper names differ" }
  if (signals.negationDiffers) return { accept: false, reason: "negation differs" }
  if (signals.overlap < options.minOverlap) return { accept: false, reason: "too few words in common" }
  if (similarity < options.strictBelow) {
    const [few, many] = a.contentWords.size <= b.contentWords.size
      ? [a.contentWords, b.contentWords]
      : [b.contentWords, a.contentWords]
    if ([...few].some((word) => !many.has(word))) return { accept: false, reason: "a distinctive word differs" }
  }
  return { accept: true, reason: "agrees" }
}

export const verify = (
  query: string | Analysis,
  cached: string | Analysis,
  similarity: number,
  options: VerifierOptions = defaultVerifierOptions
): Verdict => {
  const a = typeof query === "string" ? analyse(query) : query
  const b = typeof cached === "string" ? analyse(cached) : cached
  if (!a.verifiable || !b.verifiable) return { accept: false, reason: `longer than ${MAX_VERIFIED_CHARS} characters` }
  return verdictOf(a, b, pairSignals(a, b), similarity, options)
}
