/**
 * Agent instruction blocks inside a message's text, and how far each may shrink. A block is a tagged region the
 * coding agents wrap their injected context in (Claude Code's `<system-reminder>`, Codex's AGENTS.md
 * `<INSTRUCTIONS>` and `<environment_context>`, Copilot's and Cursor's instruction and rule tags). Code fences are
 * left alone, both around a block (a fenced example is quoted text, not an instruction) and inside one.
 */

/** The tags agents wrap instructions in; a block is `<tag>` … `</tag>`, the tag written exactly so. */
export const INSTRUCTION_TAGS: ReadonlyArray<string> = [
  "system-reminder",
  "INSTRUCTIONS",
  "user_instructions",
  "environment_context",
  "skills_instructions",
  "permissions instructions",
  "instructions",
  "custom_instructions",
  "copilot-instructions",
  "repository_instructions",
  "rules",
  "user_rules",
  "cursor_rules",
  "project_instructions"
]

const escaped = (tag: string) => tag.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&")
const OPENING = new RegExp(`<(${INSTRUCTION_TAGS.map(escaped).join("|")})>`, "g")

/** A fence opens or closes on a line of ``` or ~~~ (three or more), indented at most three spaces. */
const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/

/** `[start, end)` ranges of `text` inside code fences, fence lines included (but the last newline); unclosed: to the end. */
export const fencedRanges = (text: string): ReadonlyArray<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  let open: { start: number; marker: string } | undefined
  let at = 0
  while (at <= text.length) {
    const newline = text.indexOf("\n", at)
    const end = newline < 0 ? text.length : newline + 1
    const fence = FENCE_LINE.exec(text.slice(at, end))?.[1]
    if (fence !== undefined) {
      if (open === undefined) open = { start: at, marker: fence }
      else if (fence[0] === open.marker[0] && fence.length >= open.marker.length) {
        // The closing line's newline belongs to the prose after it, so blank lines there collapse as elsewhere.
        ranges.push([open.start, newline < 0 ? end : newline])
        open = undefined
      }
    }
    if (newline < 0) break
    at = end
  }
  if (open !== undefined) ranges.push([open.start, text.length])
  return ranges
}

export interface InstructionBlock {
  readonly tag: string
  /** Where the block starts and ends in its text, the tags included. */
  readonly start: number
  readonly end: number
  /** What lies between the tags. */
  readonly inner: string
}

/**
 * The instruction blocks of a text, in order, leaving out any that starts inside a code fence. One pass: each
 * closing tag is looked for once per block found, and a tag found unclosed is not looked for again.
 */
export const instructionBlocks = (text: string): ReadonlyArray<InstructionBlock> => {
  if (!text.includes("</")) return []
  const fenced = fencedRanges(text)
  let fence = 0
  const unclosed = new Set<string>()
  const blocks: Array<InstructionBlock> = []
  const opening = new RegExp(OPENING.source, "g")
  for (let match = opening.exec(text); match !== null; match = opening.exec(text)) {
    const tag = match[1]!
    const start = match.index
    while (fence < fenced.length && fenced[fence]![1] <= start) fence++
    if (unclosed.has(tag) || (fence < fenced.length && fenced[fence]![0] <= start)) continue
    const closing = `</${tag}>`
    const close = text.indexOf(closing, start + match[0].length)
    if (close < 0) {
      unclosed.add(tag)
      continue
    }
    const end = close + closing.length
    blocks.push({ tag, start, end, inner: text.slice(start + match[0].length, close) })
    opening.lastIndex = end
  }
  return blocks
}

/** Indented by four spaces or a tab: a Markdown code block, whose spacing is kept. */
const INDENTED_CODE = /^(?: {4}|\t)/

/** `text` without its HTML comments; an unclosed `<!--` and what follows it stay. */
const withoutComments = (text: string): string => {
  let out = ""
  let at = 0
  for (let open = text.indexOf("<!--"); open >= 0; open = text.indexOf("<!--", at)) {
    const close = text.indexOf("-->", open + 4)
    if (close < 0) break
    out += text.slice(at, open)
    at = close + 3
  }
  return out + text.slice(at)
}

/** A line without its trailing spaces and tabs (a scan from the end: a regex would retry every run). */
const trimmedEnd = (line: string): string => {
  let end = line.length
  while (end > 0 && (line.charCodeAt(end - 1) === 32 || line.charCodeAt(end - 1) === 9)) end--
  return line.slice(0, end)
}

/** Prose outside fences: comments out, trailing spaces off, runs of blank lines and of inner spaces made one. */
const shrinkProse = (prose: string): string =>
  withoutComments(prose)
    .split("\n")
    .map((line) => {
      const trimmed = trimmedEnd(line)
      if (INDENTED_CODE.test(trimmed)) return trimmed
      const indent = /^[ \t]*/.exec(trimmed)![0]
      return indent + trimmed.slice(indent.length).replace(/[ \t]{2,}/g, " ")
    })
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")

/**
 * The same instructions in fewer characters: HTML comments, trailing whitespace, runs of blank lines and of
 * spaces go; code fences stay byte for byte. The same input always gives the same output, so a shrunk turn is
 * sent identically on every later request of the conversation and a provider's prefix cache still matches it.
 */
export const shrinkInstructions = (inner: string): string => {
  const fenced = fencedRanges(inner)
  if (fenced.length === 0) return shrinkProse(inner)
  let out = ""
  let at = 0
  for (const [start, end] of fenced) {
    out += shrinkProse(inner.slice(at, start)) + inner.slice(start, end)
    at = end
  }
  return out + shrinkProse(inner.slice(at))
}

/** Repeats shorter than this stay: a reference would save next to nothing. */
export const MIN_REFERENCED_CHARS = 200

/** How a repeated block begins, for the reference: its first words, on one line. */
const openingOf = (inner: string) => {
  const words = inner.trim().replace(/\s+/g, " ")
  return words.length <= 60 ? words : `${words.slice(0, 60).replace(/\s\S*$/, "")}…`
}

/** What stands for a block repeated unchanged: the same tag, saying which earlier block it is and that it applies. */
export const referenceTo = (tag: string, inner: string): string =>
  `<${tag}>\n(Unchanged: the same text as the earlier <${tag}> block above that begins "${
    openingOf(inner)
  }". It still applies as written there.)\n</${tag}>`
