import { Exit } from "effect"
import { type BadRequest, badRequest, messageOf } from "./errors.ts"

/**
 * The deepest a body may nest objects and arrays. Real requests, tool schemas included, stay far below it; past it,
 * the recursive code a body meets (the cache key's canonical JSON, the translations, `JSON.stringify`) overflows
 * the stack, and V8's `JSON.parse` alone is slow on a long run of brackets.
 */
export const MAX_BODY_DEPTH = 128

const QUOTE = 34
const BACKSLASH = 92

/** The index of the quote that closes the JSON string opened at `start`, or -1. */
const closingQuote = (text: string, start: number): number => {
  for (let i = text.indexOf("\"", start + 1); i >= 0; i = text.indexOf("\"", i + 1)) {
    let backslashes = 0
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return i
  }
  return -1
}

/** How many times `bracket` occurs in `text`, counting no further than `limit` + 1. */
const bracketsAtMost = (text: string, bracket: string, limit: number) => {
  let count = 0
  for (let at = text.indexOf(bracket); at >= 0 && count <= limit; at = text.indexOf(bracket, at + 1)) count++
  return count
}

/**
 * Where JSON text nests deeper than `MAX_BODY_DEPTH`: under which top-level field ("" when it cannot say), or
 * `undefined` when it does not. One pass over the text, before it is parsed, skipping strings with `indexOf`.
 */
const tooDeepUnder = (text: string): string | undefined => {
  // Nesting past the bound needs more opening brackets than the bound: most bodies have far fewer, counted natively.
  if (bracketsAtMost(text, "{", MAX_BODY_DEPTH) + bracketsAtMost(text, "[", MAX_BODY_DEPTH) <= MAX_BODY_DEPTH) {
    return undefined
  }
  let depth = 0
  let inObject = false
  let field = ""
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === QUOTE) {
      const end = closingQuote(text, i)
      if (end < 0) return undefined
      // In the top-level object, the last string before a nested value is that value's key.
      if (depth === 1 && inObject) field = text.slice(i, end + 1)
      i = end
    } else if (code === 123 || code === 91) {
      if (depth === 0) inObject = code === 123
      if (++depth > MAX_BODY_DEPTH) {
        try {
          return String(JSON.parse(field || "\"\"")).slice(0, 100)
        } catch {
          return ""
        }
      }
    } else if (code === 125 || code === 93) depth--
  }
  return undefined
}

/** Parses a request body as JSON, with a message that says what is wrong; nesting is bounded before parsing. */
export const parseJsonBody = (text: string): Exit.Exit<unknown, BadRequest> => {
  if (text.trim() === "") return badRequest("request body is empty; expected JSON")
  const deepField = tooDeepUnder(text)
  if (deepField !== undefined) {
    const nested = `nests objects and arrays more than ${MAX_BODY_DEPTH} levels deep`
    return deepField === "" ? badRequest(`request body ${nested}`) : badRequest(`${deepField}: ${nested}`, deepField)
  }
  try {
    return Exit.succeed(JSON.parse(text) as unknown)
  } catch (error) {
    return badRequest(`request body is not valid JSON: ${messageOf(error)}`)
  }
}

export const isObject = (body: unknown): body is Record<string, unknown> =>
  typeof body === "object" && body !== null && !Array.isArray(body)
