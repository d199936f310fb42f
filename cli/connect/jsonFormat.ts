import { applyEdits, type FormattingOptions, modify, parse, type ParseError, printParseErrorCode } from "jsonc-parser"
import type { SettingsFormat } from "./settings.ts"

/** Line and column of an offset, for a message the user can act on. */
export const position = (text: string, offset: number) => {
  const before = text.slice(0, offset).split("\n")
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}`
}

/** The file's own indentation and line ending, so an edit looks as if its author made it. */
const formatting = (text: string): FormattingOptions => {
  const indent = /^([ \t]+)"/m.exec(text)?.[1]
  return {
    insertSpaces: indent === undefined || !indent.startsWith("\t"),
    tabSize: indent === undefined || indent.startsWith("\t") ? 2 : indent.length,
    eol: text.includes("\r\n") ? "\r\n" : "\n"
  }
}

/**
 * JSON settings edited in place (jsonc-parser: only the touched property changes; comments, order and spacing
 * stay). `comments` allows VS Code's JSONC (comments, trailing commas); Claude Code's files are strict JSON.
 */
/** A byte-order mark (Windows editors add one) is kept as it is and out of the parser's way. */
const withoutBom = (text: string, edit: (body: string) => string) =>
  text.startsWith("\uFEFF") ? "\uFEFF" + edit(text.slice(1)) : edit(text)

export const jsonFormat = (comments: boolean): SettingsFormat => ({
  name: comments ? "JSON with comments" : "JSON",
  empty: "{}\n",
  parse: (withBom) => {
    const text = withBom.replace(/^\uFEFF/, "")
    if (text.trim() === "") return {}
    const errors: Array<ParseError> = []
    const value = parse(text, errors, { allowTrailingComma: comments, disallowComments: !comments })
    const first = errors[0]
    if (first !== undefined) throw new Error(`${printParseErrorCode(first.error)} at ${position(text, first.offset)}`)
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("its top level is not an object")
    }
    return value as Record<string, unknown>
  },
  set: (withBom, path, value) =>
    withoutBom(withBom, (text) => {
      const base = text.trim() === "" ? "{}\n" : text
      return applyEdits(base, modify(base, [...path], value, { formattingOptions: formatting(base) }))
    }),
  remove: (withBom, path) =>
    withoutBom(
      withBom,
      (text) => applyEdits(text, modify(text, [...path], undefined, { formattingOptions: formatting(text) }))
    )
})
