import { existsSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { configLeaves, envVarName, type Leaf } from "../core/config/ConfigSpec.ts"
import { CliFailure } from "./output.ts"

/** A leaf's default as a TOML value of the type its `form` asks for. */
const tomlValue = (leaf: Leaf<unknown>): string => {
  const text = leaf.defaultText === "(empty)" ? "" : leaf.defaultText
  if (leaf.form === "a whole number" || leaf.form === "a number between 0 and 1") return text
  if (leaf.form === "true or false") return text
  return JSON.stringify(text)
}

const wrap = (text: string, width = 100): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/)) {
    if (line !== "" && line.length + word.length + 1 > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines
}

/**
 * A commented isartor.toml with every key, generated from ConfigSpec so it cannot drift: each key's meaning, its
 * variable, and its default as a commented-out line — uncomment a line to change that setting.
 */
export const configTemplate = (): string => {
  const leaves = configLeaves()
  const topLevel = leaves.filter(([path]) => path.length === 1)
  const tables = new Map<string, typeof leaves>()
  for (const entry of leaves.filter(([path]) => path.length > 1)) {
    const table = entry[0].slice(0, -1).join(".")
    tables.set(table, [...(tables.get(table) ?? []), entry])
  }
  const entry = ([path, leaf]: typeof leaves[number]) => [
    ...wrap(leaf.meaning).map((line) => `# ${line}`),
    `# (${leaf.form}; variable ${envVarName(path)}${leaf.secret ? "; a secret: prefer the variable" : ""})`,
    // A key with no default is shown with an example value, and says so: uncommented, it sets that value.
    ...(leaf.example === undefined ? [] : [`# (unset by default: ${leaf.defaultText}; for example:)`]),
    `# ${path[path.length - 1]} = ${leaf.example ?? tomlValue(leaf)}`,
    ""
  ]
  const out = [
    "# Isartor configuration (written by `isartor init`). Every key is listed with its default, commented out:",
    "# uncomment a line to change it. ISARTOR__* environment variables override this file; `isartor doctor`",
    "# shows which value wins and from where.",
    "",
    ...topLevel.flatMap(entry)
  ]
  for (const [table, entries] of tables) out.push(`[${table}]`, "", ...entries.flatMap(entry))
  return out.join("\n")
}

/** `isartor init [file]`: writes the template, refusing to overwrite an existing file without --force. */
export const init = (file: string | undefined, options: { readonly force?: boolean }): number => {
  const path = resolve(file ?? "isartor.toml")
  if (existsSync(path) && !options.force) {
    throw new CliFailure(`${path} already exists; keep it, or overwrite it with: isartor init --force`)
  }
  writeFileSync(path, configTemplate())
  console.log(`wrote ${path} (every key with its default, commented out)`)
  console.log("Next: edit it, then check it with: isartor doctor")
  return 0
}
