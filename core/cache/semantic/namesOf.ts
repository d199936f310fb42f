/**
 * The names a question mentions that its cosine similarity glosses over: names in code and proper names. The
 * verifier (SemanticVerifier.ts) refuses a pair whose names differ.
 */

// The other kinds of code-like name, each starting only at a backtick or a word boundary: linear as one regex.
const NAMED = /`[^`]+`|\b\w+_\w+\b|\b[a-z]+[A-Z]\w*\b|\b[A-Z]\w*[A-Z]\w*\b/g
const WORD_RUN = /[\w.]+/g
const isNameStart = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95

/**
 * Code-like names — `load_from_disk()`, `IterableDataset.shuffle`, `camelCase`, ALLCAPS: one letter changes the
 * question. What `/`[^`]+`|[A-Za-z_][\w.]*\(\)|\b\w+_\w+\b|…/g` matches, found in linear time: as a regex, the call
 * form (`name()`) re-scans the rest of a `[\w.]` run from each of its letters, so one long run took seconds. A call
 * matches from a run's first letter to the `()` that follows the run; at one position, a backtick span comes first.
 */
export const identifiersOf = (text: string): Set<string> => {
  const found = new Set<string>()
  const named = new RegExp(NAMED)
  const runs = new RegExp(WORD_RUN)
  let runEnd = -1
  /** The leftmost call at or after `from`: a letter or `_` in a `[\w.]` run that `()` follows. */
  const callFrom = (from: number): { start: number; end: number } | undefined => {
    for (let at = from;;) {
      if (at >= runEnd) {
        runs.lastIndex = at
        let run: RegExpExecArray | null
        while ((run = runs.exec(text)) !== null && !text.startsWith("()", run.index + run[0].length));
        if (run === null) return undefined
        at = run.index
        runEnd = run.index + run[0].length
      }
      for (; at < runEnd; at++) if (isNameStart(text.charCodeAt(at))) return { start: at, end: runEnd + 2 }
    }
  }
  let call = callFrom(0)
  let other = named.exec(text)
  for (let at = 0; call !== undefined || other !== null;) {
    const callFirst = call !== undefined &&
      (other === null || call.start < other.index || (call.start === other.index && other[0][0] !== "`"))
    const [start, end] = callFirst ? [call!.start, call!.end] : [other!.index, other!.index + other![0].length]
    found.add(text.slice(start, end).replace(/[`()]/g, ""))
    at = end
    if (call !== undefined && call.start < at) call = callFrom(at)
    if (other !== null && other.index < at) {
      named.lastIndex = at
      other = named.exec(text)
    }
  }
  return found
}

/** Proper names: capitalised words that do not open a sentence ("in Seattle", "for Android", "Hugging Face"). */
export const properNamesOf = (text: string): Set<string> => {
  const names = new Set<string>()
  for (const sentence of text.split(/(?<=[.?!:])\s+|\n/)) {
    sentence.split(/\s+/).filter(Boolean).forEach((word, i) => {
      const name = i > 0 && word.match(/^[("“'`]?([A-Z][\w.-]*)/)?.[1]
      // The lookbehind starts the match at the run's first dot or dash only: `[.-]+$` alone retried from each one.
      if (name && name !== "I") names.add(name.replace(/(?<![.-])[.-]+$/, ""))
    })
  }
  return names
}
