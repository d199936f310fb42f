import { parse } from "dotenv"
import type { SettingsFormat } from "./settings.ts"

/**
 * A `.env` file edited line by line: a variable's line is replaced where it is (its `export ` kept), a new one goes
 * at the end, and every other line stays as it was. Read with dotenv, the parser the tools themselves use; each
 * edit is checked by parsing the result (settings.ts), so a layout this editor misreads is refused, never written.
 */

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** A line that assigns `name` (dotenv takes the last one), and the part before the name. */
const assignment = (name: string) => new RegExp(`^(\\s*(?:export\\s+)?)${escapeRegExp(name)}\\s*(?:=|:\\s)`)

/** The value as dotenv reads it back: bare when it can be, else in the quotes that leave it as it is. */
const quoted = (value: string) => {
  if (/^[\w./:@%+,=-]*$/.test(value)) return value
  if (!/['\r\n]/.test(value)) return `'${value}'`
  if (!/["\\\r\n]/.test(value)) return `"${value}"`
  throw new Error("a value with both kinds of quote or a line break cannot be written")
}

const lastLine = (lines: ReadonlyArray<string>, name: string) => {
  for (let i = lines.length - 1; i >= 0; i--) if (assignment(name).test(lines[i]!)) return i
  return -1
}

const onlyName = (path: ReadonlyArray<string>) => {
  if (path.length !== 1 || !/^[\w.-]+$/.test(path[0]!)) throw new Error(`${path.join(".")} is not a variable name`)
  return path[0]!
}

const edit = (text: string, change: (lines: Array<string>) => void) => {
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  const lines = text === "" ? [] : text.split(/\r?\n/)
  const finalNewline = text === "" || text.endsWith("\n")
  if (finalNewline && lines.length > 0) lines.pop()
  change(lines)
  return lines.length === 0 ? "" : lines.join(eol) + (finalNewline ? eol : "")
}

export const dotenvFormat: SettingsFormat = {
  name: "a .env file",
  empty: "",
  parse: (text) => parse(text.replace(/^\uFEFF/, "")),
  set: (text, path, value) => {
    const name = onlyName(path)
    if (typeof value !== "string") throw new Error(`${name} must be a string`)
    return edit(text, (lines) => {
      const at = lastLine(lines, name)
      if (at === -1) lines.push(`${name}=${quoted(value)}`)
      else lines[at] = `${assignment(name).exec(lines[at]!)![1]}${name}=${quoted(value)}`
    })
  },
  remove: (text, path) =>
    edit(text, (lines) => {
      const at = lastLine(lines, onlyName(path))
      if (at !== -1) lines.splice(at, 1)
    })
}
