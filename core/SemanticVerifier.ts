/**
 * The false-hit defence behind the cosine threshold: a cached question may answer a new one only if the two
 * agree on what cosine similarity glosses over — the numbers they mention, whether they are negated, the names in
 * code, the proper names (places, products, people) and enough of their words.
 */

const NEGATIONS = new Set([
  "not", "no", "never", "without", "cannot", "cant", "dont", "doesnt", "isnt", "arent", "wont", "shouldnt", "didnt", "nor",
  // Said without "not": "non-streaming", "in the absence of", "lacks", "omitting", "none".
  "non", "absence", "absent", "lack", "lacks", "lacking", "omit", "omits", "omitting", "excluding", "except", "none", "nothing", "neither", "nobody"
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

/** Code-like names — `load_from_disk()`, `IterableDataset.shuffle`, `camelCase`, ALLCAPS: one letter changes the question. */
const identifiersOf = (text: string) =>
  new Set((text.match(/`[^`]+`|[A-Za-z_][\w.]*\(\)|\b\w+_\w+\b|\b[a-z]+[A-Z]\w*\b|\b[A-Z]\w*[A-Z]\w*\b/g) ?? []).map((name) => name.replace(/[`()]/g, "")))

/** Proper names: capitalised words that do not open a sentence ("in Seattle", "for Android", "Hugging Face"). */
const properNamesOf = (text: string) => {
  const names = new Set<string>()
  for (const sentence of text.split(/(?<=[.?!:])\s+|\n/)) {
    sentence.split(/\s+/).filter(Boolean).forEach((word, i) => {
      const name = i > 0 && word.match(/^[("“'`]?([A-Z][\w.-]*)/)?.[1]
      if (name && name !== "I") names.add(name.replace(/[.-]+$/, ""))
    })
  }
  return names
}

/** The capitals of a CamelCase name: "JavaScript" may be written "JS". */
const acronymOf = (name: string) => (/^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(name) ? name.replace(/[a-z]/g, "").toLowerCase() : undefined)

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((item) => b.has(item))

/** A crude stem, so "learning" and "learn", "passwords" and "password" count as one word. */
const stem = (word: string) => word.replace(/(ing|ed|es|s)$/, "")

const singular = (word: string) => word.replace(/e?s$/, "")

/** What the verifier reads in a text, worked out once per text (a lookup reuses the query's for every candidate). */
export interface Analysis {
  readonly numbers: Set<string>
  readonly identifiers: ReadonlyArray<string>
  readonly properNames: ReadonlyArray<string>
  readonly negated: boolean
  readonly contentWords: Set<string>
  /** The text's words, lower case, split at anything but letters and digits: what names are looked for in. */
  readonly words: ReadonlyArray<string>
  readonly acronyms: Set<string>
  readonly flat: string
}

export const analyse = (text: string): Analysis => {
  const words = tokens(text)
  return {
    numbers: numbersOf(text),
    identifiers: [...identifiersOf(text)],
    properNames: [...properNamesOf(text)],
    negated: words.some((word) => NEGATIONS.has(word)),
    contentWords: new Set(words.filter((word) => !STOPWORDS.has(word) && !/^\d/.test(word)).map(stem)),
    words: text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean),
    acronyms: new Set((text.match(/\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b/g) ?? []).map((camel) => camel.replace(/[a-z]/g, "").toLowerCase())),
    flat: flatten(text)
  }
}

/**
 * Whether a text mentions a (flattened) name: as a run of up to 8 of its words, whatever the spacing, case,
 * punctuation or plural ("Hugging Face" / "huggingface", "`Dataset.push_to_hub()`" / "Dataset.push_to_hub"), as the
 * initials of a run of words or of a CamelCase word ("ML" / "Machine Learning", "TS" / "TypeScript"), or, for a long
 * name, inside a longer one. Scans the words once per name, stopping a run as soon as it cannot match.
 */
const mentions = (text: Analysis, name: string): boolean => {
  const bare = singular(name)
  if (text.acronyms.has(name) || (name.length >= 6 && text.flat.includes(name))) return true
  const { words } = text
  for (let i = 0; i < words.length; i++) {
    let run = ""
    let initials = ""
    for (let j = i; j < Math.min(words.length, i + 8); j++) {
      run += words[j]
      if (initials.length < name.length) initials += words[j]![0]
      if (run === name || run === bare || singular(run) === name || singular(run) === bare || initials === name) return true
      if (run.length > name.length + 2 && (initials.length >= name.length || !name.startsWith(initials))) break
    }
  }
  return false
}

const unmentioned = (names: ReadonlyArray<string>, text: Analysis) =>
  names.filter((name) => {
    const flat = flatten(name)
    const acronym = acronymOf(name)
    return flat !== "" && !mentions(text, flat) && !(acronym && mentions(text, acronym))
  })

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

export const verify = (
  query: string | Analysis,
  cached: string | Analysis,
  similarity: number,
  options: VerifierOptions = defaultVerifierOptions
): Verdict => {
  const a = typeof query === "string" ? analyse(query) : query
  const b = typeof cached === "string" ? analyse(cached) : cached
  if (!sameSet(a.numbers, b.numbers)) return { accept: false, reason: "numbers differ" }
  if (unmentioned(a.identifiers, b).length > 0 || unmentioned(b.identifiers, a).length > 0) {
    return { accept: false, reason: "names in code differ" }
  }
  // A name only one side has may just be context ("Hillary" / "Hillary Clinton"); a name swapped for another is a
  // different question ("… in Seattle" / "… in Atlanta", "magnesium Oxide" / "Carbonate").
  if (unmentioned(a.properNames, b).length > 0 && unmentioned(b.properNames, a).length > 0) {
    return { accept: false, reason: "proper names differ" }
  }
  if (a.negated !== b.negated) return { accept: false, reason: "negation differs" }
  const wordsA = a.contentWords
  const wordsB = b.contentWords
  const shared = [...wordsA].filter((word) => wordsB.has(word)).length
  const smaller = Math.min(wordsA.size, wordsB.size)
  if (smaller > 0 && shared / smaller < options.minOverlap) return { accept: false, reason: "too few words in common" }
  if (similarity < options.strictBelow) {
    const [few, many] = wordsA.size <= wordsB.size ? [wordsA, wordsB] : [wordsB, wordsA]
    if ([...few].some((word) => !many.has(word))) return { accept: false, reason: "a distinctive word differs" }
  }
  return { accept: true, reason: "agrees" }
}
