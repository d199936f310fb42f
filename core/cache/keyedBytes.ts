/**
 * The bytes of a JSON object body without some of its top-level members, found without parsing: what the exact key
 * of a body sent upstream as its own bytes is made of. Equal results mean equal bodies without those members (the
 * result is the same JSON with them cut out), so a key made of them never serves a request another's answer.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

const isSpace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09

const skipSpace = (bytes: Uint8Array, at: number) => {
  while (isSpace(bytes[at])) at++
  return at
}

/** The index after the string whose opening quote is at `at`. */
const afterString = (bytes: Uint8Array, at: number) => {
  for (let quote = bytes.indexOf(QUOTE, at + 1); quote >= 0; quote = bytes.indexOf(QUOTE, quote + 1)) {
    let backslashes = 0
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return quote + 1
  }
  return -1
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

/** Whether the key whose quotes are at `start` and `end - 1` is one of `names` (an escaped key never is). */
const isNamed = (bytes: Uint8Array, start: number, end: number, names: ReadonlySet<string>) => {
  const length = end - start - 2
  if (length <= 0 || length > 32) return false
  let name = ""
  for (let at = start + 1; at < end - 1; at++) {
    const byte = bytes[at]!
    if (byte === BACKSLASH || byte > 0x7e) return false
    name += String.fromCharCode(byte)
  }
  return names.has(name)
}

/**
 * The spans of `bytes` (a JSON object) to keep, as [start, end) pairs, once the top-level members named in `names`
 * are cut out with their separating comma; `undefined` when the bytes are not one JSON object.
 */
export const keptSpans = (bytes: Uint8Array, names: ReadonlySet<string>): Array<number> | undefined => {
  let at = skipSpace(bytes, 0)
  if (bytes[at] !== OPEN_OBJECT) return undefined
  const spans: Array<number> = []
  let keptFrom = 0
  // Where the last kept member ended, for the comma before a cut one; -1 before any member is kept.
  let lastKeptEnd = -1
  at++
  for (;;) {
    at = skipSpace(bytes, at)
    if (bytes[at] === CLOSE_OBJECT) break
    const keyStart = at
    const keyEnd = afterString(bytes, keyStart)
    if (bytes[keyStart] !== QUOTE || keyEnd < 0) return undefined
    at = skipSpace(bytes, keyEnd)
    if (bytes[at] !== COLON) return undefined
    const valueEnd = afterValue(bytes, skipSpace(bytes, at + 1))
    if (valueEnd < 0) return undefined
    at = skipSpace(bytes, valueEnd)
    const next = bytes[at]
    if (next !== COMMA && next !== CLOSE_OBJECT) return undefined
    if (isNamed(bytes, keyStart, keyEnd, names)) {
      // Cut from the end of the last kept member (taking the comma after it), else up to the comma after this one.
      const cutFrom = lastKeptEnd >= 0 ? lastKeptEnd : keyStart
      const cutTo = lastKeptEnd >= 0 || next === CLOSE_OBJECT ? valueEnd : at + 1
      if (cutFrom > keptFrom) spans.push(keptFrom, cutFrom)
      keptFrom = cutTo
    } else lastKeptEnd = valueEnd
    if (next === CLOSE_OBJECT) break
    at++
  }
  if (bytes.length > keptFrom) spans.push(keptFrom, bytes.length)
  return spans
}
