import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { stateDir } from "../state.ts"
import { sha256, writeAtomically } from "./files.ts"

/** One key a connect set: what was there before (`hadBefore: false`: nothing) and what it wrote. */
export interface KeyChange {
  readonly path: ReadonlyArray<string>
  readonly hadBefore: boolean
  readonly before?: unknown
  readonly after: unknown
}

/**
 * What `isartor connect` did to one file, kept in the state directory (owner only: it holds the file as it was,
 * which may contain keys) until `--disconnect` undoes it.
 */
export interface ConnectRecord {
  readonly tool: string
  readonly file: string
  /** The file's text before the first connect; null when it did not exist. */
  readonly original: string | null
  /** SHA-256 of the text the last connect wrote: unchanged since, the original is put back byte for byte. */
  readonly written: string
  /** Directories the first connect created (removed again when empty). */
  readonly createdDirs: ReadonlyArray<string>
  /** Objects/tables the connect created to hold its keys (removed again when they are left empty). */
  readonly createdContainers: ReadonlyArray<ReadonlyArray<string>>
  readonly changes: ReadonlyArray<KeyChange>
  readonly connectedAt: string
}

const recordsDir = (env: Record<string, string | undefined> = process.env) => join(stateDir(env), "connect")

const recordPath = (tool: string, file: string) => join(recordsDir(), `${tool}-${sha256(file).slice(0, 16)}.json`)

export const loadRecord = (tool: string, file: string): ConnectRecord | undefined => {
  try {
    const record = JSON.parse(readFileSync(recordPath(tool, file), "utf8")) as ConnectRecord
    return record.file === file ? record : undefined
  } catch {
    return undefined
  }
}

export const saveRecord = (record: ConnectRecord) => {
  const dir = recordsDir()
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  writeAtomically(recordPath(record.tool, record.file), JSON.stringify(record, null, 2) + "\n", 0o600)
}

export const dropRecord = (tool: string, file: string) => rmSync(recordPath(tool, file), { force: true })

/** Every file a connect of this tool has touched and not yet undone. */
export const recordsOf = (tool: string): Array<ConnectRecord> => {
  let names: Array<string> = []
  try {
    names = readdirSync(recordsDir()).filter((name) => name.startsWith(`${tool}-`) && name.endsWith(".json"))
  } catch {
    return []
  }
  return names.flatMap((name) => {
    try {
      return [JSON.parse(readFileSync(join(recordsDir(), name), "utf8")) as ConnectRecord]
    } catch {
      return []
    }
  })
}
