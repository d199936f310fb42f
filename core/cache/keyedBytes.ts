/**
 * The bytes of a JSON object body without some of its members, found without parsing: what the exact key of a body
 * sent upstream as its own bytes is made of. Equal results mean equal bodies without those members (the result is
 * the same JSON with them cut out), so a key made of them never serves a request another's answer.
 */
import {
  BACKSLASH,
  CLOSE_ARRAY,
  CLOSE_OBJECT,
  closingQuote,
  COLON,
  COMMA,
  isSpace,
  OPEN_ARRAY,
  OPEN_OBJECT,
  QUOTE
} from "../domain/jsonScan.ts"

const skipSpace = (bytes: Uint8Array, at: number) => {
  while (isSpace(bytes[at])) at++
  return at
}

/** The index after the string whose opening quote is at `at`, or -1. */
const afterString = (bytes: Uint8Array, at: number) => {
  const quote = closingQuote(bytes, at, bytes.length)
  return quote < 0 ? -1 : quote + 1
}

/** The index after the value that starts at `at` (a string, an object, an array or a bare literal). */
const afterValue = (bytes: Uint8Array, at: number) => {
  const first = bytes[at]
  if (first === QUOTE) return afterString(bytes, at)
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    while (at < bytes.length && bytes[at] !== COMMA && bytes[at] !== CLOSE_OBJECT && bytes[at] !== CLOSE_ARRAY) {
      if (isSpace(bytes[at])) break
      at++
    }
    return at
  }
  let depth = 0
  while (at < bytes.length) {
    const byte = bytes[at]!
    if (byte === QUOTE) {
      at = afterString(bytes, at)
      if (at < 0) return -1
      continue
    }
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) depth++
    else if ((byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) && --depth === 0) return at + 1
    at++
  }
  return -1
}

/**
 * What to cut from a JSON object: its members named in `names`, and in the array held by a member named in
 * `inArrays`, what that member's rule says of each object in it.
 */
export interface CutRule {
  readonly names: ReadonlySet<string>
  readonly inArrays?: Readonly<Record<string, CutRule>> | undefined
}

/** The name in quotes at `start` to `end - 1` when it is short and plain; an escaped name is never one of a rule's. */
const nameAt = (bytes: Uint8Array, start: number, end: number): string | undefined => {
  const length = end - start - 2
  if (length <= 0 || length > 32) return undefined
  let name = ""
  for (let at = start + 1; at < end - 1; at++) {
    const byte = bytes[at]!
    if (byte === BACKSLASH || byte > 0x7e) return undefined
    name += String.fromCharCode(byte)
  }
  return name
}

/** The spans kept so far, and where the one being kept began. */
interface Cuts {
  readonly spans: Array<number>
  keptFrom: number
}
const cut = (cuts: Cuts, from: number, to: number) => {
  if (from > cuts.keptFrom) cuts.spans.push(cuts.keptFrom, from)
  if (to > cuts.keptFrom) cuts.keptFrom = to
}

/** Cuts what `rule` says from each object in the array at `at`; the index after the array, or -1. */
const cutInArray = (bytes: Uint8Array, at: number, rule: CutRule, cuts: Cuts): number => {
  at = skipSpace(bytes, at + 1)
  if (bytes[at] === CLOSE_ARRAY) return at + 1
  for (;;) {
    const end = bytes[at] === OPEN_OBJECT ? cutInObject(bytes, at, rule, cuts) : afterValue(bytes, at)
    if (end < 0) return -1
    at = skipSpace(bytes, end)
    if (bytes[at] === CLOSE_ARRAY) return at + 1
    if (bytes[at] !== COMMA) return -1
    at = skipSpace(bytes, at + 1)
  }
}

/** The value of a member at `at`, with what `rule` says cut from it; the index after it, or -1. */
const keptValue = (bytes: Uint8Array, at: number, rule: CutRule | undefined, cuts: Cuts) =>
  rule !== undefined && bytes[at] === OPEN_ARRAY ? cutInArray(bytes, at, rule, cuts) : afterValue(bytes, at)

/**
 * Cuts the members `rule` names from the object at `at`, each with its separating comma, and what it says of the
 * arrays it names; the index after the object, or -1 when it is not one JSON object.
 */
const cutInObject = (bytes: Uint8Array, at: number, rule: CutRule, cuts: Cuts): number => {
  // Where the last kept member ended, for the comma before a cut one; -1 before any member is kept.
  let lastKeptEnd = -1
  at++
  for (;;) {
    at = skipSpace(bytes, at)
    if (bytes[at] === CLOSE_OBJECT) return at + 1
    const keyStart = at
    const keyEnd = afterString(bytes, keyStart)
    if (bytes[keyStart] !== QUOTE || keyEnd < 0) return -1
    at = skipSpace(bytes, keyEnd)
    if (bytes[at] !== COLON) return -1
    const name = nameAt(bytes, keyStart, keyEnd)
    const named = name !== undefined && rule.names.has(name)
    const valueEnd = named ? afterValue(bytes, skipSpace(bytes, at + 1)) : keptValue(
      bytes,
      skipSpace(bytes, at + 1),
      // Own members only: a member named `__proto__` (or `constructor`) has no rule, whatever a plain object inherits.
      name === undefined || rule.inArrays === undefined || !Object.hasOwn(rule.inArrays, name)
        ? undefined
        : rule.inArrays[name],
      cuts
    )
    if (valueEnd < 0) return -1
    at = skipSpace(bytes, valueEnd)
    const next = bytes[at]
    if (next !== COMMA && next !== CLOSE_OBJECT) return -1
    if (named) {
      // From the end of the last kept member (taking the comma after it), else up to the comma after this one.
      if (lastKeptEnd >= 0) cut(cuts, lastKeptEnd, valueEnd)
      else cut(cuts, keyStart, next === CLOSE_OBJECT ? valueEnd : at + 1)
    } else lastKeptEnd = valueEnd
    if (next === CLOSE_OBJECT) return at + 1
    at++
  }
}

/**
 * The spans of `bytes` (a JSON object) to keep, as [start, end) pairs, once what `rule` names is cut out;
 * `undefined` when the bytes are not one JSON object.
 */
export const keptSpans = (bytes: Uint8Array, rule: CutRule): Array<number> | undefined => {
  const at = skipSpace(bytes, 0)
  if (bytes[at] !== OPEN_OBJECT) return undefined
  const cuts: Cuts = { spans: [], keptFrom: 0 }
  const end = cutInObject(bytes, at, rule, cuts)
  if (end < 0 || skipSpace(bytes, end) !== bytes.length) return undefined
  if (bytes.length > cuts.keptFrom) cuts.spans.push(cuts.keptFrom, bytes.length)
  return cuts.spans
}
