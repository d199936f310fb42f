import { parse, TomlError } from "smol-toml"
import type { SettingsFormat } from "./settings.ts"

/**
 * TOML settings edited line by line, so comments, order and spacing stay: a key's value is replaced on its own
 * line, a new key goes after the last line of its table, a new table at the end of the file. Only what this
 * command writes is supported (string values on one line); anything else is refused, and every edit is checked
 * by parsing the result (settings.ts), so a layout this editor misreads is refused, never written.
 */

const HEADER = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/

/** `a."b.c" . d` → ["a", "b.c", "d"] */
const dottedKey = (text: string): Array<string> =>
  (text.match(/"(?:[^"\\]|\\.)*"|'[^']*'|[^.]+/g) ?? []).map((part) => {
    const trimmed = part.trim()
    if (trimmed.startsWith("\"")) return JSON.parse(trimmed) as string
    if (trimmed.startsWith("'")) return trimmed.slice(1, -1)
    return trimmed
  }).filter((part) => part !== "")

const sameKey = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((part, i) => part === b[i])

const tomlValue = (value: unknown) => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  throw new Error(`cannot write ${typeof value} values`)
}

const bareOrQuoted = (key: string) => (/^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key))

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const keyLine = (key: string) => {
  const name = `(?:${escapeRegExp(key)}|"${escapeRegExp(key)}"|'${escapeRegExp(key)}')`
  return new RegExp(`^(\\s*${name}\\s*=\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|[^\\s#]+)(.*)$`)
}
const keyStart = (key: string) =>
  new RegExp(`^\\s*(?:${escapeRegExp(key)}|"${escapeRegExp(key)}"|'${escapeRegExp(key)}')\\s*=`)

interface Lines {
  readonly lines: Array<string>
  readonly eol: string
  readonly finalNewline: boolean
}

const split = (text: string): Lines => {
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  const finalNewline = text === "" || text.endsWith("\n")
  const lines = text.split(/\r?\n/)
  if (finalNewline) lines.pop()
  return { lines, eol, finalNewline }
}

const join = ({ eol, finalNewline, lines }: Lines) => lines.join(eol) + (finalNewline || lines.length > 0 ? eol : "")

/** The lines of one table: [start, end) after its header; the root table is before the first header. */
const region = (lines: ReadonlyArray<string>, table: ReadonlyArray<string>) => {
  let start = table.length === 0 ? 0 : -1
  let header = -1
  for (let i = 0; i < lines.length; i++) {
    const match = HEADER.exec(lines[i]!)
    if (match === null) continue
    if (start !== -1) return { header, start, end: i }
    if (table.length > 0 && !lines[i]!.trim().startsWith("[[") && sameKey(dottedKey(match[1]!), table)) {
      header = i
      start = i + 1
    }
  }
  return start === -1 ? undefined : { header, start, end: lines.length }
}

/** smol-toml's tables have no prototype; plain objects compare equal to the ones an edit expects. */
const plain = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(plain)
    : value !== null && typeof value === "object" && !(value instanceof Date)
    ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]))
    : value

const isContent = (line: string) => line.trim() !== "" && !line.trim().startsWith("#")

export const tomlFormat: SettingsFormat = {
  name: "TOML",
  empty: "",
  parse: (text) => {
    try {
      return plain(parse(text.replace(/^\uFEFF/, ""))) as Record<string, unknown>
    } catch (error) {
      throw new Error(error instanceof TomlError ? error.message.split("\n")[0]! : String(error))
    }
  },
  set: (text, path, value) => {
    const doc = split(text)
    const { lines } = doc
    const table = path.slice(0, -1)
    const key = path[path.length - 1]!
    const line = `${
      JSON.stringify(key).slice(1, -1) === key && /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key)
    } = ${tomlValue(value)}`
    const found = region(lines, table)
    if (found === undefined) {
      if (lines.length > 0 && lines[lines.length - 1]!.trim() !== "") lines.push("")
      lines.push(`[${table.map(bareOrQuoted).join(".")}]`)
      lines.push(line)
      return join(doc)
    }
    for (let i = found.start; i < found.end; i++) {
      if (!keyStart(key).test(lines[i]!)) continue
      const match = keyLine(key).exec(lines[i]!)
      if (match === null) throw new Error(`its ${path.join(".")} is not a one-line value`)
      lines[i] = `${match[1]}${tomlValue(value)}${match[3]}`
      return join(doc)
    }
    let last = found.start - 1
    for (let i = found.start; i < found.end; i++) if (isContent(lines[i]!)) last = i
    lines.splice(table.length === 0 && last < 0 ? 0 : last + 1, 0, line)
    return join(doc)
  },
  remove: (text, path) => {
    const doc = split(text)
    const { lines } = doc
    const asTable = region(lines, path)
    if (asTable !== undefined && asTable.header >= 0) {
      // A table this command created and left empty: its header, its blank lines and the blank line before it.
      if (lines.slice(asTable.start, asTable.end).some(isContent)) return text
      let from = asTable.header
      // The blank line set before a table appended at the end goes with it; one before the next table stays.
      if (asTable.end === lines.length && from > 0 && lines[from - 1]!.trim() === "") from--
      lines.splice(from, asTable.end - from)
      return join(doc)
    }
    const found = region(lines, path.slice(0, -1))
    if (found === undefined) return text
    const key = path[path.length - 1]!
    for (let i = found.start; i < found.end; i++) {
      if (keyStart(key).test(lines[i]!)) {
        lines.splice(i, 1)
        return join(doc)
      }
    }
    return text
  }
}
