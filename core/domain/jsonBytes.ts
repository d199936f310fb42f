import { MAX_BODY_DEPTH } from "./jsonBody.ts"
import {
  CLOSE_ARRAY,
  CLOSE_OBJECT,
  closingQuote,
  COLON,
  COMMA,
  isSpace,
  OPEN_ARRAY,
  OPEN_OBJECT,
  QUOTE
} from "./jsonScan.ts"

/**
 * A piece of a body at most this long is decoded and parsed whole. V8 keeps a string longer than 128 KiB (a two-byte
 * one: 64 Ki characters) in its large-object space, where allocating it costs more than decoding and parsing it
 * (`bench/README.md`, the agent row); a piece this size stays under it even when every character takes two bytes.
 */
const PIECE_BYTES = 32 * 1024

const utf8 = new TextDecoder()

/** Not parsed this way: the caller parses the text whole, which says what is wrong if anything is. */
const FALLBACK: unique symbol = Symbol("fallback")
type Parsed = unknown | typeof FALLBACK

/**
 * The pieces of the object or array spanning `[start, end]` (its brackets included): for an object, each member's
 * key and value ranges; for an array, each element's. Commas and colons count only outside strings and at the
 * container's own depth. `undefined` when the pieces do not fit that shape, or when anything in it nests deeper than
 * `depthLeft` levels (so one pass over the whole body also bounds its depth).
 */
const piecesOf = (bytes: Uint8Array, start: number, end: number, depthLeft: number): Array<number> | undefined => {
  const pieces: Array<number> = []
  const isObject = bytes[start] === OPEN_OBJECT
  let depth = 0
  let from = start + 1
  let colon = -1
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!
    if (byte === QUOTE) {
      i = closingQuote(bytes, i, end)
      if (i < 0) return undefined
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > depthLeft) return undefined
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      if (--depth === 0) return undefined // the container closed before its end
    } else if (depth === 1 && byte === COLON && isObject && colon < 0) {
      colon = i
    } else if (depth === 1 && byte === COMMA) {
      if (isObject && colon < 0) return undefined
      pieces.push(from, colon, i)
      from = i + 1
      colon = -1
    }
  }
  if (depth !== 1 || (isObject && colon < 0)) return undefined
  pieces.push(from, colon, end)
  return pieces
}

/** The JSON text spanning `[start, end)`, decoded and parsed whole; or FALLBACK. */
const parsedWhole = (bytes: Uint8Array, start: number, end: number): Parsed => {
  try {
    return JSON.parse(utf8.decode(bytes.subarray(start, end)))
  } catch {
    return FALLBACK
  }
}

/** Members or elements spanning `[start, end)`, parsed in their container's brackets; or FALLBACK. */
const parsedRun = (bytes: Uint8Array, open: string, start: number, end: number, close: string): Parsed => {
  try {
    return JSON.parse(`${open}${utf8.decode(bytes.subarray(start, end))}${close}`)
  } catch {
    return FALLBACK
  }
}

const trimmed = (bytes: Uint8Array, start: number, end: number): [number, number] => {
  while (isSpace(bytes[start])) start++
  while (end > start && isSpace(bytes[end - 1])) end--
  return [start, end]
}

/** The value spanning `[start, end)`, or FALLBACK. */
const valueOf = (pieceBytes: number, bytes: Uint8Array, from: number, to: number, depthLeft: number): Parsed => {
  const [start, end] = trimmed(bytes, from, to)
  return end - start > pieceBytes
    ? containerOf(pieceBytes, bytes, start, end, depthLeft)
    : parsedWhole(bytes, start, end)
}

/** The object or array spanning exactly `[start, end)`, split into its pieces; or FALLBACK. */
const containerOf = (pieceBytes: number, bytes: Uint8Array, start: number, end: number, depthLeft: number): Parsed => {
  const first = bytes[start]
  const last = bytes[end - 1]
  const closes = (first === OPEN_OBJECT && last === CLOSE_OBJECT) || (first === OPEN_ARRAY && last === CLOSE_ARRAY)
  // A long string (or anything else that is not a container) has no pieces: it is parsed whole.
  if (!closes) return parsedWhole(bytes, start, end)
  const pieces = piecesOf(bytes, start, end - 1, depthLeft)
  if (pieces === undefined) return FALLBACK
  return first === OPEN_OBJECT
    ? objectOf(pieceBytes, bytes, pieces, depthLeft - 1)
    : arrayOf(pieceBytes, bytes, pieces, depthLeft - 1)
}

/**
 * Each run of the container's pieces: a large one alone, else as many small ones in a row as fit in a piece, parsed
 * together (in the container's own brackets) by `parseRun` — a few calls per body rather than one per member.
 */
const eachRun = (
  pieceBytes: number,
  bytes: Uint8Array,
  pieces: ReadonlyArray<number>,
  onLarge: (at: number) => boolean,
  parseRun: (start: number, end: number) => boolean
): boolean => {
  let runStart = -1
  let runEnd = -1
  for (let at = 0; at < pieces.length; at += 3) {
    const start = pieces[at]!
    const end = pieces[at + 2]!
    // An empty piece (`[1,,2]`, a trailing comma) would vanish in a run: the text is invalid, left to JSON.parse.
    const [first, last] = trimmed(bytes, start, end)
    if (first >= last) return false
    if (runStart >= 0 && end - runStart > pieceBytes) {
      if (!parseRun(runStart, runEnd)) return false
      runStart = -1
    }
    if (end - start > pieceBytes) {
      if (!onLarge(at)) return false
    } else {
      if (runStart < 0) runStart = start
      runEnd = end
    }
  }
  return runStart < 0 || parseRun(runStart, runEnd)
}

const arrayOf = (pieceBytes: number, bytes: Uint8Array, pieces: ReadonlyArray<number>, depthLeft: number): Parsed => {
  const array: Array<unknown> = []
  const complete = eachRun(pieceBytes, bytes, pieces, (at) => {
    const element = valueOf(pieceBytes, bytes, pieces[at]!, pieces[at + 2]!, depthLeft)
    if (element !== FALLBACK) array.push(element)
    return element !== FALLBACK
  }, (start, end) => {
    const run = parsedRun(bytes, "[", start, end, "]")
    if (Array.isArray(run)) { for (const element of run) array.push(element) }
    return Array.isArray(run)
  })
  return complete ? array : FALLBACK
}

const objectOf = (pieceBytes: number, bytes: Uint8Array, pieces: ReadonlyArray<number>, depthLeft: number): Parsed => {
  const object: Record<string, unknown> = {}
  // A key named `__proto__` would set the object's prototype here, where `JSON.parse` makes it an own property.
  const complete = eachRun(pieceBytes, bytes, pieces, (at) => {
    const key = parsedWhole(bytes, pieces[at]!, pieces[at + 1]!)
    if (typeof key !== "string" || key === "__proto__") return false
    const value = valueOf(pieceBytes, bytes, pieces[at + 1]! + 1, pieces[at + 2]!, depthLeft)
    if (value !== FALLBACK) object[key] = value
    return value !== FALLBACK
  }, (start, end) => {
    const run = parsedRun(bytes, "{", start, end, "}")
    if (typeof run !== "object" || run === null || Object.hasOwn(run, "__proto__")) return false
    for (const [key, value] of Object.entries(run)) object[key] = value
    return true
  })
  return complete ? object : FALLBACK
}

/** A parser that splits what is longer than `pieceBytes` (the tests split small values to reach every branch). */
export const jsonBytesParser = (pieceBytes: number) => {
  return (bytes: Uint8Array): { readonly value: unknown } | undefined => {
    // A small body is parsed whole, where its depth is bounded first. A large one is always split at the top, and
    // that one pass over all of it bounds its depth.
    if (bytes.length <= pieceBytes) return undefined
    const [start, end] = trimmed(bytes, 0, bytes.length)
    const value = containerOf(pieceBytes, bytes, start, end, MAX_BODY_DEPTH)
    return value === FALLBACK ? undefined : { value }
  }
}

/**
 * A JSON body parsed from its UTF-8 bytes without ever holding its whole text: a large object or array is split at
 * its own commas (outside strings) and each piece decoded and parsed alone, recursively while a piece is still
 * large. Equal to `JSON.parse` of the decoded text (`test/domain/jsonBytes.test.ts` checks it on random and broken
 * bodies); `undefined` when the body is small, is not an object or array this can split, nests deeper than
 * `MAX_BODY_DEPTH`, or is not valid JSON: the caller then parses the text whole, and its answer (or error) stands.
 */
export const parseJsonBytes = jsonBytesParser(PIECE_BYTES)
