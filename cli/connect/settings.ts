import { dirname } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { CliFailure } from "../output.ts"
import {
  missingDirs,
  readSettingsFile,
  removeEmptyDirs,
  removeFile,
  sha256,
  tildify,
  writeAtomically
} from "./files.ts"
import { type ConnectRecord, dropRecord, type KeyChange, loadRecord, saveRecord } from "./records.ts"

/** A settings file format that can be edited in place: each edit changes only the key it names. */
export interface SettingsFormat {
  readonly name: string
  /** The text of a file that does not exist yet. */
  readonly empty: string
  /** The parsed document; throws with the reason (and position) when the text is not valid. */
  readonly parse: (text: string) => Record<string, unknown>
  readonly set: (text: string, path: ReadonlyArray<string>, value: unknown) => string
  readonly remove: (text: string, path: ReadonlyArray<string>) => string
}

export interface Setting {
  readonly path: ReadonlyArray<string>
  readonly value: unknown
}

type Doc = Record<string, unknown>

const isObject = (value: unknown): value is Doc =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Date)

export const getPath = (doc: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), doc)

const setPath = (doc: Doc, path: ReadonlyArray<string>, value: unknown) => {
  let node = doc
  for (const key of path.slice(0, -1)) {
    if (!isObject(node[key])) node[key] = {}
    node = node[key] as Doc
  }
  if (value === undefined) delete node[path[path.length - 1]!]
  else node[path[path.length - 1]!] = value
}

const clone = (doc: Doc): Doc => structuredClone(doc)

export const parseOrRefuse = (format: SettingsFormat, file: string, text: string) => {
  try {
    return format.parse(text)
  } catch (error) {
    throw new CliFailure(
      `cannot parse ${tildify(file)} as ${format.name}: ${
        (error as Error).message
      }; nothing was changed (fix the file, or move it aside, and run this again)`
    )
  }
}

/** The edit must change exactly what it meant to, or nothing is written. */
const checked = (format: SettingsFormat, file: string, text: string, expected: Doc) => {
  let actual: unknown
  try {
    actual = format.parse(text)
  } catch {
    actual = undefined
  }
  if (!isDeepStrictEqual(actual, expected)) {
    throw new CliFailure(
      `cannot edit ${
        tildify(file)
      } safely (its layout is one this command cannot change in place); nothing was changed — set the keys by hand`
    )
  }
  return text
}

export interface ConnectResult {
  readonly file: string
  readonly changed: boolean
  readonly created: boolean
}

/**
 * Records in `containers` the parents `path` needs that `doc` lacks (the set creates them, a disconnect removes them);
 * a parent that is not an object or table refuses the edit.
 */
const noteMissingContainers = (
  doc: Doc,
  path: ReadonlyArray<string>,
  containers: Map<string, ReadonlyArray<string>>,
  format: SettingsFormat,
  file: string
) => {
  for (let depth = 1; depth < path.length; depth++) {
    const prefix = path.slice(0, depth)
    const node = getPath(doc, prefix)
    if (node === undefined) containers.set(prefix.join("\0"), prefix)
    else if (!isObject(node)) {
      throw new CliFailure(
        `${tildify(file)}: ${prefix.join(".")} is not ${format.name === "TOML" ? "a table" : "an object"}, so ${
          path.join(".")
        } cannot be set; nothing was changed`
      )
    }
  }
}

/** Records a key's change; a key changed by an earlier connect keeps the value it had before that one. */
const recordChange = (
  changes: Map<string, KeyChange>,
  path: ReadonlyArray<string>,
  current: unknown,
  value: unknown
) => {
  const key = path.join("\0")
  const earlier = changes.get(key)
  changes.set(
    key,
    earlier === undefined
      ? {
        path,
        hadBefore: current !== undefined,
        ...(current === undefined ? {} : { before: current }),
        after: value
      }
      : { ...earlier, after: value }
  )
}

/** What a connect would do to one file, worked out without writing anything (`--dry-run` stops here). */
export interface ConnectPlan extends ConnectResult {
  readonly text: string
  readonly mode: number | undefined
  readonly record: ConnectRecord | undefined
  /** The keys it sets, with the values they get (what a dry run prints). */
  readonly settings: ReadonlyArray<Setting>
}

/** The settings a tool wants, as a list or worked out from its file as it is now (the model it has selected). */
export type Settings = ReadonlyArray<Setting> | ((doc: Doc) => ReadonlyArray<Setting>)

/**
 * Works out `settings` in a tool's file, creating it (and its directories) when needed. The first connect records the
 * file as it was; later ones keep that record, so a disconnect always goes back to before the first. Connecting
 * again with the same values changes nothing.
 */
export const planConnect = (tool: string, format: SettingsFormat, file: string, wanted: Settings): ConnectPlan => {
  const found = readSettingsFile(file)
  const original = found.text ?? format.empty
  const doc = parseOrRefuse(format, file, original)
  const settings = typeof wanted === "function" ? wanted(doc) : wanted
  // A record of a file deleted since is stale: its original would bring back what the user removed.
  const record = found.text === undefined ? undefined : loadRecord(tool, found.path)
  const expected = clone(doc)
  const changes = new Map<string, KeyChange>(record?.changes.map((change) => [change.path.join("\0"), change]))
  const containers = new Map<string, ReadonlyArray<string>>(
    record?.createdContainers.map((path) => [path.join("\0"), path])
  )
  let text = original
  for (const { path, value } of settings) {
    noteMissingContainers(doc, path, containers, format, file)
    const current = getPath(doc, path)
    if (isDeepStrictEqual(current, value)) continue
    try {
      text = format.set(text, path, value)
    } catch (error) {
      throw new CliFailure(`cannot edit ${tildify(file)}: ${(error as Error).message}; nothing was changed`)
    }
    setPath(expected, path, value)
    recordChange(changes, path, current, value)
  }
  const unchanged = { file: found.path, changed: false, created: false, text, mode: found.mode, settings }
  if (text === original) return { ...unchanged, record: undefined }
  if (!text.endsWith("\n")) text += "\n"
  checked(format, file, text, expected)
  return {
    ...unchanged,
    text,
    changed: true,
    created: found.text === undefined,
    record: {
      tool,
      file: found.path,
      original: record?.original ?? found.text ?? null,
      written: sha256(text),
      createdDirs: record?.createdDirs ??
        (found.text === undefined ? missingDirs(dirname(found.path)) : []),
      createdContainers: [...containers.values()],
      changes: [...changes.values()],
      connectedAt: record?.connectedAt ?? new Date().toISOString()
    }
  }
}

/** Carries out a plan: the record first (if writing the file fails, a disconnect still knows what was there). */
export const applyConnect = (plan: ConnectPlan): ConnectResult => {
  if (plan.record !== undefined) {
    saveRecord(plan.record)
    writeAtomically(plan.file, plan.text, plan.mode)
  }
  return { file: plan.file, changed: plan.changed, created: plan.created }
}

export const connectFile = (tool: string, format: SettingsFormat, file: string, settings: Settings): ConnectResult =>
  applyConnect(planConnect(tool, format, file, settings))

export interface DisconnectResult {
  readonly file: string
  readonly outcome: "restored" | "removed" | "edited" | "not-connected" | "gone"
  /** Keys left alone because they changed since the connect (someone else's value now). */
  readonly kept: ReadonlyArray<string>
}

/** What a disconnect would do to one file: the text to write back (undefined: remove it, or leave it). */
export interface DisconnectPlan extends DisconnectResult {
  readonly tool: string
  readonly text: string | undefined
  readonly mode: number | undefined
  readonly createdDirs: ReadonlyArray<string>
}

/**
 * Works out the undo of a connect: a file nobody changed since goes back byte for byte (or away, if the connect
 * created it); otherwise only the keys it wrote are put back as they were, and a key changed since is left as it is.
 */
export const planDisconnect = (tool: string, format: SettingsFormat, file: string): DisconnectPlan => {
  const found = readSettingsFile(file)
  const record = loadRecord(tool, found.path)
  const plan = { tool, file: found.path, mode: found.mode, kept: [], text: undefined, createdDirs: [] }
  if (record === undefined) return { ...plan, outcome: "not-connected" }
  if (found.text === undefined) return { ...plan, outcome: "gone" }
  if (sha256(found.text) === record.written) {
    return record.original === null
      ? { ...plan, outcome: "removed", createdDirs: record.createdDirs }
      : { ...plan, outcome: "restored", text: record.original }
  }
  const doc = parseOrRefuse(format, file, found.text)
  const expected = clone(doc)
  const kept: Array<string> = []
  let text = found.text
  for (const change of [...record.changes].reverse()) {
    if (!isDeepStrictEqual(getPath(doc, change.path), change.after)) {
      if (getPath(doc, change.path) !== undefined) kept.push(change.path.join("."))
      continue
    }
    text = change.hadBefore ? format.set(text, change.path, change.before) : format.remove(text, change.path)
    setPath(expected, change.path, change.hadBefore ? change.before : undefined)
  }
  for (const container of [...record.createdContainers].sort((a, b) => b.length - a.length)) {
    const node = getPath(expected, container)
    if (isObject(node) && Object.keys(node).length === 0) {
      text = format.remove(text, container)
      setPath(expected, container, undefined)
    }
  }
  checked(format, file, text, expected)
  if (record.original === null && Object.keys(expected).length === 0 && text.trim().replace(/^\{\s*\}$/, "") === "") {
    return { ...plan, outcome: "removed", kept, createdDirs: record.createdDirs }
  }
  return { ...plan, outcome: "edited", kept, text: text === found.text ? undefined : text }
}

/** Carries out a disconnect plan and drops the record it used. */
export const applyDisconnect = (plan: DisconnectPlan): DisconnectResult => {
  if (plan.outcome !== "not-connected") {
    if (plan.outcome === "removed") {
      removeFile(plan.file)
      removeEmptyDirs(plan.createdDirs)
    } else if (plan.text !== undefined) writeAtomically(plan.file, plan.text, plan.mode)
    dropRecord(plan.tool, plan.file)
  }
  return { file: plan.file, outcome: plan.outcome, kept: plan.kept }
}

export const disconnectFile = (tool: string, format: SettingsFormat, file: string): DisconnectResult =>
  applyDisconnect(planDisconnect(tool, format, file))
