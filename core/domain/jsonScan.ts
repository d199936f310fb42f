/** The bytes of JSON's structure, and how a scan of a body's bytes steps over a string: shared by every scanner. */
export const QUOTE = 34
export const BACKSLASH = 92
export const COMMA = 44
export const COLON = 58
export const OPEN_OBJECT = 123
export const CLOSE_OBJECT = 125
export const OPEN_ARRAY = 91
export const CLOSE_ARRAY = 93

export const isSpace = (byte: number | undefined) => byte === 32 || byte === 10 || byte === 13 || byte === 9

/** How far a string is walked byte by byte before the rest is searched natively (a call that short strings cost more). */
const WALKED = 64

/** The index of the quote closing the string opened at `start`, or -1. */
export const closingQuote = (bytes: Uint8Array, start: number, end: number): number => {
  const walked = Math.min(end, start + WALKED)
  let i = start + 1
  for (; i < walked; i++) {
    const byte = bytes[i]
    if (byte === QUOTE) return i
    if (byte === BACKSLASH) i++
  }
  if (i >= end) return -1
  // Past the walked part, `i` is not inside an escape: search natively, counting the backslashes before a quote.
  for (let at = bytes.indexOf(QUOTE, i); at >= 0 && at < end; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0
    while (at - 1 - backslashes >= i && bytes[at - 1 - backslashes] === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return at
  }
  return -1
}
