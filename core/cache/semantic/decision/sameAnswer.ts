/**
 * Whether a fresh answer says what the cached one said: the same text once case, spacing, Unicode forms and one
 * closing full stop are set aside. Signs, symbols, operators and every other punctuation mark stay ("-5" is not "5",
 * "x > y" is not "x < y", "$5" is not "€5", "5!" is not "5"): whatever could change the meaning counts. Strict on
 * purpose — a model sampled twice words the same answer differently, and then the hit counts as wrong: the budget
 * errs towards fewer hits, never towards more wrong ones.
 */

/** The text of an answer as the caches store it (a Chat Completions body); the raw text when it is not one. */
export const answerTextOf = (completion: string): string => {
  try {
    const body = JSON.parse(completion) as { choices?: Array<{ message?: { content?: unknown } }> }
    const content = body.choices?.[0]?.message?.content
    if (typeof content === "string") return content
    if (Array.isArray(content)) {
      return content.map((part: { text?: unknown }) => (typeof part?.text === "string" ? part.text : "")).join("")
    }
    return completion
  } catch {
    return completion
  }
}

const normalised = (text: string) =>
  text.normalize("NFKC").toLowerCase().replace(/\s+/gu, " ").trim().replace(/(?<!\.)\.$/u, "").trimEnd()

export const sameAnswer = (fresh: string, cached: string): boolean =>
  normalised(answerTextOf(fresh)) === normalised(answerTextOf(cached))
