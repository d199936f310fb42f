// Formats the TypeScript sources with dprint's TypeScript plugin (WASM, from npm) and the settings in dprint.json —
// the dprint CLI itself ships native binaries per platform that the npm registry does not all carry.
// npm run fmt (writes) · npm run fmt:check (lists what is not formatted, exit 1) · npm run fmt -- <files> (only those,
// for a tree others are editing too)
import { createFromBuffer } from "@dprint/formatter"
import { readdir, readFile, writeFile } from "node:fs/promises"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

interface DprintConfig {
  readonly indentWidth: number
  readonly lineWidth: number
  readonly newLineKind: "lf" | "crlf"
  readonly typescript: Record<string, unknown>
  /** `folder/**\/*.ts` globs: the folders to format. */
  readonly includes: ReadonlyArray<string>
  readonly excludes: ReadonlyArray<string>
}

const root = fileURLToPath(new URL("../..", import.meta.url))
const check = process.argv.includes("--check")
const named = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
const config = JSON.parse(await readFile(join(root, "dprint.json"), "utf8")) as DprintConfig
const formatter = createFromBuffer(await readFile(join(root, "node_modules/@dprint/typescript/plugin.wasm")))
formatter.setConfig(
  { indentWidth: config.indentWidth, lineWidth: config.lineWidth, newLineKind: config.newLineKind },
  config.typescript
)
const excluded = (path: string) => config.excludes.some((pattern) => path.startsWith(pattern.replace(/^\*\*\//, "")))

const sources = async function*(folder: string): AsyncGenerator<string> {
  for (const entry of await readdir(join(root, folder), { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`
    if (excluded(path) || entry.name === "node_modules") continue
    if (entry.isDirectory()) yield* sources(path)
    else if (entry.name.endsWith(".ts")) yield path
  }
}

const everySource = async function*(): AsyncGenerator<string> {
  for (const folder of config.includes.map((glob) => glob.split("/**")[0]!)) yield* sources(folder)
}

const unformatted: Array<string> = []
for await (const path of named.length > 0 ? named.map((file) => relative(root, resolve(file))) : everySource()) {
  const fileText = await readFile(join(root, path), "utf8")
  const formatted = formatter.formatText({ filePath: join(root, path), fileText })
  if (formatted === fileText) continue
  unformatted.push(path)
  if (!check) await writeFile(join(root, path), formatted)
}
if (check && unformatted.length > 0) {
  console.error(`not formatted (run npm run fmt):\n  ${unformatted.join("\n  ")}`)
  process.exit(1)
}
console.log(check ? "formatted" : `formatted ${unformatted.length} file(s)`)
