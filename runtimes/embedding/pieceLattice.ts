/** USE-lite's 8,000 sentencepiece pieces with their log-probabilities, as the package ships them. */
export type Vocabulary = Array<[string, number]>

/** The package's word mark: a text's start and each of its spaces. */
const SEPARATOR = "\u2581"
/** The vocabulary's first pieces are control symbols ("<s>", …) that no text is split into. */
const RESERVED_PIECES = 6

interface TrieNode {
  readonly children: Map<string, TrieNode>
  /** The piece ending here (its vocabulary index), or -1. */
  index: number
  score: number
}

const node = (): TrieNode => ({ children: new Map(), index: -1, score: 0 })

/**
 * `@energetic-ai/embeddings`' sentencepiece tokenizer (its `Tokenizer.encode`), the same lattice and the same choices:
 * the best score at each end position, ties to the later start, a best of exactly 0 read as "none yet", the walk
 * back by each piece's length in UTF-16 units, runs of unknown symbols merged. Its own copies the rest of the text
 * at every position and builds an object per match; here the trie is walked in place and the matches go to flat
 * arrays, which is what an L1b miss with a word the cache has not seen (a number, a name) spent its encoding on.
 */
export const pieceLattice = (vocabulary: Vocabulary): { readonly encode: (text: string) => Array<number> } => {
  const root = node()
  for (let i = RESERVED_PIECES; i < vocabulary.length; i++) {
    const [piece, score] = vocabulary[i]!
    let at = root
    for (const symbol of piece) {
      let next = at.children.get(symbol)
      if (next === undefined) at.children.set(symbol, next = node())
      at = next
    }
    // A piece that is the empty string ends nowhere: the package's trie marks no node for it either.
    if (at !== root) {
      at.index = i
      at.score = score
    }
  }
  const encode = (text: string): Array<number> => {
    const normalized = text.normalize("NFKC")
    const input = normalized.length > 0 ? SEPARATOR + normalized.replace(/ /g, SEPARATOR) : normalized
    const symbols = [...input]
    const n = symbols.length
    // Matches by end position, in rising start order (each start has at most one piece per end): start, score, index.
    const ending: Array<Array<number>> = Array.from({ length: n + 1 }, () => [])
    for (let start = 0; start < n; start++) {
      let found = false
      let at = root.children.get(symbols[start]!)
      for (let end = start + 1; at !== undefined; end++) {
        if (at.index >= 0) {
          ending[end]!.push(start, at.score, at.index)
          found = true
        }
        at = end < n ? at.children.get(symbols[end]!) : undefined
      }
      // No piece starts here: the symbol alone, unknown (index 0, score 0).
      if (!found) ending[start + 1]!.push(start, 0, 0)
    }
    return walkBack(vocabulary, bestPieces(ending, n))
  }
  return { encode }
}

/** The lattice's choice at each end position: the package's rule, ties going to the later start. */
const bestPieces = (ending: ReadonlyArray<ReadonlyArray<number>>, n: number) => {
  const best = new Float64Array(n + 1)
  const words = new Int32Array(n + 1)
  for (let end = 0; end <= n; end++) {
    const matches = ending[end]!
    for (let m = 0; m < matches.length; m += 3) {
      const score = matches[m + 1]! + best[matches[m]!]!
      if (best[end] === 0 || score >= best[end]!) {
        best[end] = score
        words[end] = matches[m + 2]!
      }
    }
  }
  return words
}

/** From the last position back by each chosen piece's length; consecutive unknown symbols become one. */
const walkBack = (vocabulary: Vocabulary, words: Int32Array) => {
  const results: Array<number> = []
  for (let at = words.length - 1; at > 0;) {
    results.push(words[at]!)
    at -= vocabulary[words[at]!]![0].length
  }
  const merged: Array<number> = []
  let previousUnknown = false
  for (const id of results) {
    if (!(previousUnknown && id === 0)) merged.push(id)
    previousUnknown = id === 0
  }
  return merged.reverse()
}
