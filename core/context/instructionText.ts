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

/**
 * A fence line (CommonMark): ``` or ~~~ (three or more), indented at most three spaces, then the rest of the line
 * (an opening fence's info string; a closing fence has nothing but whitespace there).
 */
const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})([^\n]*)/

/** `[start, end)` ranges of `text` inside code fences, fence lines included (but the last newline); unclosed: to the end. */
export const fencedRanges = (text: string): ReadonlyArray<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  let open: { start: number; marker: string } | undefined
  let at = 0
  while (at <= text.length) {
    const newline = text.indexOf("\n", at)
    const end = newline < 0 ? text.length : newline + 1
    const line = FENCE_LINE.exec(text.slice(at, end))
    if (line !== null) {
      const [, fence, rest] = line as unknown as [string, string, string]
      if (open === undefined) {
        // A backtick fence's info string has no backtick (else the line is inline code, not a fence).
        if (fence[0] !== "`" || !rest.includes("`")) open = { start: at, marker: fence }
      } else if (fence[0] === open.marker[0] && fence.length >= open.marker.length && rest.trim() === "") {
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

/** Indented by four spaces or a tab: a Markdown code block, kept byte for byte. */
const INDENTED_CODE = /^(?: {4}|\t)/

/** The length of the run of backticks at `at`. */
const backticksAt = (text: string, at: number): number => {
  let end = at
  while (text.charCodeAt(end) === 96) end++
  return end - at
}

/**
 * `[start, end)` ranges of `prose` that are code: inline code spans (a run of backticks to the next run of the same
 * length, CommonMark) and lines indented as a code block. Read left to right with HTML comments: backticks inside a
 * comment are not code (the comment goes whole), and a comment's indented lines are not a code block. Sorted, overlaps
 * merged.
 */
const codeRanges = (prose: string): ReadonlyArray<readonly [number, number]> => {
  const found: Array<[number, number]> = []
  const comments: Array<readonly [number, number]> = []
  // Runs of each length with no closing run after them: literal backticks.
  const unmatched = new Set<number>()
  let tick = prose.indexOf("`")
  let comment = prose.indexOf("<!--")
  let at = 0
  while (tick >= 0 || comment >= 0) {
    if (comment >= 0 && (tick < 0 || comment < tick)) {
      const close = prose.indexOf("-->", comment + 4)
      // Unclosed: no comment anywhere after it either.
      if (close < 0) comment = -1
      else {
        comments.push([comment, close + 3])
        at = close + 3
      }
    } else {
      const length = backticksAt(prose, tick)
      let close = unmatched.has(length) ? -1 : prose.indexOf("`", tick + length)
      while (close >= 0 && backticksAt(prose, close) !== length) {
        close = prose.indexOf("`", close + backticksAt(prose, close))
      }
      if (close < 0) {
        unmatched.add(length)
        at = tick + length
      } else {
        found.push([tick, close + length])
        at = close + length
      }
    }
    if (tick >= 0 && tick < at) tick = prose.indexOf("`", at)
    if (comment >= 0 && comment < at) comment = prose.indexOf("<!--", at)
  }
  let inComment = 0
  for (let line = 0; line < prose.length;) {
    const newline = prose.indexOf("\n", line)
    const end = newline < 0 ? prose.length : newline
    while (inComment < comments.length && comments[inComment]![1] <= line) inComment++
    const commented = inComment < comments.length && comments[inComment]![0] < line
    if (!commented && INDENTED_CODE.test(prose.slice(line, line + 4))) found.push([line, end])
    line = end + 1
  }
  found.sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const range of found) {
    const last = merged.at(-1)
    if (last !== undefined && range[0] <= last[1]) last[1] = Math.max(last[1], range[1])
    else merged.push([...range])
  }
  return merged
}

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

/**
 * Text between code: comments out, runs of inner spaces made one, and trailing spaces off each line it ends (its last
 * line only when nothing follows it: code may).
 */
const shrinkText = (text: string, last: boolean): string => {
  const lines = withoutComments(text).split("\n")
  return lines.map((line, index) => {
    const trimmed = index < lines.length - 1 || last ? trimmedEnd(line) : line
    const indent = /^[ \t]*/.exec(trimmed)![0]
    return indent + trimmed.slice(indent.length).replace(/[ \t]{2,}/g, " ")
  }).join("\n")
}

const collapsed = (text: string) => text.replace(/\n{3,}/g, "\n\n")

/**
 * Prose outside fences: shrunk between its code (inline code spans and indented code blocks, kept byte for byte),
 * then runs of blank lines made one.
 */
const shrinkProse = (prose: string): string => {
  let out = ""
  let at = 0
  for (const [start, end] of codeRanges(prose)) {
    const between = prose.slice(at, start)
    // Blank lines between two pieces of code may be inside an indented code block: kept.
    out += (at > 0 && between.trim() === "" ? between : collapsed(shrinkText(between, false))) + prose.slice(start, end)
    at = end
  }
  return out + collapsed(shrinkText(prose.slice(at), true))
}

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
