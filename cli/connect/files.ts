import { createHash } from "node:crypto"
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeSync
} from "node:fs"
import { homedir } from "node:os"
import { basename, dirname, join } from "node:path"
import { CliFailure } from "../output.ts"

/** `~/…` for paths under HOME, so messages stay short and never show another user's layout. */
export const tildify = (path: string, env: Record<string, string | undefined> = process.env) => {
  const home = env.HOME || homedir()
  return home && path.startsWith(home + "/") ? `~${path.slice(home.length)}` : path
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** A settings file as found: its text (undefined when it does not exist) and its permission bits. */
export interface FoundFile {
  /** The file really written: a symlinked settings file (dotfile managers) is edited at its target. */
  readonly path: string
  readonly text: string | undefined
  readonly mode: number | undefined
}

export const readSettingsFile = (path: string): FoundFile => {
  if (!existsSync(path)) return { path, text: undefined, mode: undefined }
  const target = realpathSync(path)
  const stats = statSync(target)
  if (!stats.isFile()) throw new CliFailure(`${tildify(path)} is not a regular file; nothing was changed`)
  try {
    return { path: target, text: readFileSync(target, "utf8"), mode: stats.mode & 0o7777 }
  } catch (error) {
    throw new CliFailure(`cannot read ${tildify(path)}: ${(error as Error).message}; nothing was changed`)
  }
}

/** The directories `mkdir -p` would create for `dir`, outermost first (to remove them again on disconnect). */
export const missingDirs = (dir: string): Array<string> => {
  const missing: Array<string> = []
  for (let current = dir; !existsSync(current); current = dirname(current)) {
    missing.unshift(current)
    if (dirname(current) === current) break
  }
  return missing
}

/**
 * Replaces a file atomically: the new text goes to a temporary file in the same directory (same file system),
 * is flushed, gets the old file's permission bits (new files: owner only, they may hold a key), and is renamed
 * over the old one — a reader sees the old file or the new one, never half of either.
 */
export const writeAtomically = (path: string, text: string, mode: number | undefined) => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const partial = join(dirname(path), `.${basename(path)}.isartor-${process.pid}.tmp`)
  const fd = openSync(partial, "w", mode ?? 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    // openSync's mode is filtered by the umask; the old file's bits are restored exactly.
    chmodSync(partial, mode ?? 0o600)
    renameSync(partial, path)
  } catch (error) {
    rmSync(partial, { force: true })
    throw error
  }
}

export const removeFile = (path: string) => rmSync(path, { force: true })

/** Removes the directories a connect created, innermost first, as long as they are empty. */
export const removeEmptyDirs = (dirs: ReadonlyArray<string>) => {
  for (const dir of [...dirs].reverse()) {
    try {
      rmdirSync(dir)
    } catch {
      return // not empty (the tool wrote something there since) or already gone: leave it
    }
  }
}
