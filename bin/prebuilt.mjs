// The command compiled to JavaScript for Node, so `isartor` runs without tsx: tsx's ESM hooks run on a loader thread
// of their own (a second V8 isolate with esbuild and every transformed source), held for the life of the process.
// `prebuiltEntry()` returns the compiled entrypoint when it matches the sources, compiling it first when it does not
// (in a child process, so esbuild never lives in the gateway); `undefined` when it cannot be compiled here (no
// esbuild, a read-only install), and the caller runs the sources through tsx as before.
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join, relative, resolve, sep } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const outRoot = join(root, "dist", "node")
const currentFile = join(outRoot, "current.json")
const ENTRY = "cli/node.ts"
/** Worker threads' entrypoints, compiled with the command: their Node bootstraps (`*-node.mjs`) load them from here. */
const WORKERS = ["runtimes/embedding/worker.ts", "runtimes/usage/usageWorker.ts"]
/**
 * Older builds are removed by the next one once they are this old: a gateway running one has loaded what it needs at
 * start, and a checkout being edited makes a build per start.
 */
const KEEP_OLD_BUILDS_MS = 3600_000

/** A build's name: the sources it was compiled from, as they are on disk (path, size, modification time). */
const keyOf = (inputs) => {
  const hash = createHash("sha256")
  for (const input of inputs) {
    const stat = statSync(join(root, input))
    hash.update(`${input}\0${stat.size}\0${stat.mtimeMs}\n`)
  }
  return hash.digest("hex").slice(0, 16)
}

const compiledName = (source) => source.replace(/^.*\//, "").replace(/\.ts$/, ".js")
const entryOf = (key, source = ENTRY) => join(outRoot, key, compiledName(source))

/** The current build's compiled `source` when every source it was compiled from is unchanged. */
const freshEntry = (source = ENTRY) => {
  try {
    const { key, inputs } = JSON.parse(readFileSync(currentFile, "utf8"))
    return keyOf(inputs) === key && existsSync(entryOf(key, source)) ? entryOf(key, source) : undefined
  } catch {
    return undefined
  }
}

/**
 * A worker thread's entrypoint (one of WORKERS, as a path from the project root) from the current build, when it
 * matches the sources; never compiles (the command did, at start). `undefined`: run it through tsx.
 */
export const prebuiltWorker = (source) => {
  const fresh = freshEntry(source)
  return fresh && pathToFileURL(fresh).href
}

export const prebuiltEntry = () => {
  const fresh = freshEntry()
  if (fresh) return pathToFileURL(fresh).href
  try {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url)], { stdio: "ignore" })
  } catch {
    // Another process may have built the same sources meanwhile.
  }
  const built = freshEntry()
  return built && pathToFileURL(built).href
}

/**
 * Each source's `import.meta.url` is its own, not the bundle's: the files it finds beside itself (the embedding
 * worker, the demo's data, the project root) are where they are in the checkout.
 */
const ownUrls = (outDir) => ({
  name: "own-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined
      const source = relative(outDir, args.path).split(sep).join("/")
      const contents = readFileSync(args.path, "utf8").replaceAll(
        "import.meta.url",
        `new URL(${JSON.stringify(source)}, import.meta.url).href`
      )
      return { contents, loader: "ts" }
    })
  }
})

/**
 * Packages compiled into the build: Effect (and its own packages, which must share its one copy), tree-shaken and
 * without its documentation comments, which V8 keeps as each module's source text. Every other one is imported as
 * installed (several read files beside themselves).
 */
const BUNDLED = /^(effect|@effect\/[^/]+|@energetic-ai\/embeddings)(\/|$)/
const bundledPackages = (outDir) => ({
  name: "bundled-packages",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => BUNDLED.test(args.path) ? undefined : { external: true })
    // A package's file named by its path (transformers.js's web build) is imported from where it is installed.
    build.onResolve({ filter: /\/node_modules\// }, (args) => ({
      path: relative(outDir, resolve(args.resolveDir, args.path)).split(sep).join("/"),
      external: true
    }))
  }
})

/**
 * USE-lite's package `require`s TF.js at its top, which starts TF.js's WASM backend (16 MB of WASM memory) in every
 * thread that imports it; only the model needs it, and the gateway's thread uses the package's tokenizer alone (the
 * fast stage). Compiled in with TF.js required on first use, so it loads in the embedding worker only. An esbuild
 * plugin, which Bun's bundler runs as well: the single binary is compiled with it too (cli/build.ts).
 */
const EAGER_TFJS = 'var import_core = require("@energetic-ai/core");'
export const lazyTfjs = {
  name: "lazy-tfjs",
  setup(build) {
    build.onLoad({ filter: /@energetic-ai[\\/]embeddings[\\/]dist[\\/]index\.js$/ }, (args) => ({
      contents: readFileSync(args.path, "utf8").replace(
        EAGER_TFJS,
        'var import_core = new Proxy({}, { get: (_, name) => require("@energetic-ai/core")[name] });'
      ),
      loader: "js"
    }))
  }
}

const build = async () => {
  // esbuild comes with tsx (a dependency), wherever npm placed it.
  const esbuild = createRequire(createRequire(import.meta.url).resolve("tsx"))("esbuild")
  const started = Date.now()
  const staging = join(outRoot, `.staging-${process.pid}`)
  rmSync(staging, { recursive: true, force: true })
  const result = await esbuild.build({
    entryPoints: [ENTRY, ...WORKERS].filter((source) => existsSync(join(root, source))).map((source) =>
      join(root, source)
    ),
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outdir: staging,
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    absWorkingDir: root,
    metafile: true,
    logLevel: "error",
    // Bundled CommonJS (USE-lite's package) requires what stays installed with Node's own `require`.
    banner: { js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);' },
    plugins: [bundledPackages(staging), lazyTfjs, ownUrls(staging)]
  })
  const compiled = Object.keys(result.metafile.inputs)
  // A compiled package is named by its package.json (its version), the build's settings by this file.
  const packages = compiled.map((input) => /^(node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
    .filter((dir) => dir !== undefined).map((dir) => `${dir}/package.json`)
  const inputs = [
    ...new Set([...compiled.filter((input) => !input.startsWith("node_modules/")), ...packages, "bin/prebuilt.mjs"])
  ].sort()
  // A source edited while it was compiled: this build may hold the older text, so it is not made current.
  if (inputs.some((input) => statSync(join(root, input)).mtimeMs >= started)) {
    rmSync(staging, { recursive: true, force: true })
    return
  }
  const key = keyOf(inputs)
  // The staging directory sits beside the build's own, so the sources' URLs relative to it hold there too.
  const outDir = join(outRoot, key)
  try {
    renameSync(staging, outDir)
  } catch (error) {
    // Another process built the same sources first.
    rmSync(staging, { recursive: true, force: true })
    if (!existsSync(entryOf(key))) throw error
  }
  const next = join(outRoot, `.current-${process.pid}.json`)
  writeFileSync(next, JSON.stringify({ key, inputs }))
  renameSync(next, currentFile)
  for (const name of readdirSync(outRoot)) {
    const path = join(outRoot, name)
    if (name !== key && !name.endsWith(".json") && Date.now() - statSync(path).mtimeMs > KEEP_OLD_BUILDS_MS) {
      rmSync(path, { recursive: true, force: true })
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(outRoot, { recursive: true })
  await build()
}
