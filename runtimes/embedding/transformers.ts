import { access, constants, mkdir, readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { dirname, isAbsolute, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import type { EmbeddingBackend } from "../../core/embedding/Embedder.ts"

/** Models known by name: their transformers.js-ready repositories and the pooling their authors prescribe. */
export const knownModels: Record<string, { readonly repository: string; readonly pooling: "mean" | "cls" }> = {
  "all-minilm-l6-v2": { repository: "Xenova/all-MiniLM-L6-v2", pooling: "mean" },
  "bge-small-en-v1.5": { repository: "Xenova/bge-small-en-v1.5", pooling: "cls" }
}

export interface TransformersChoice {
  /** A known model name, or a local model directory. */
  readonly model: string
  /** ISARTOR__EMBEDDING_MODEL_PATH: the directory holding the model's files; empty when unset. */
  readonly modelPath: string
  /**
   * ISARTOR_HF_CACHE_DIR, else HF_HOME, else ~/.cache/huggingface (see `modelCache`): where models are looked for and
   * downloaded to; empty: no cache, so nothing is downloaded.
   */
  readonly cacheDir: string
  /** Where `cacheDir` came from, for messages: the variable, or that it is the default. */
  readonly cacheVariable?: string
  /** The Hugging Face hub missing models download from (HF_ENDPOINT); empty: never download (HF_HUB_OFFLINE). */
  readonly hub?: string
}

export const DEFAULT_HUB = "https://huggingface.co"

/**
 * Where transformers.js models are cached, as the guide says: ISARTOR_HF_CACHE_DIR, else HF_HOME, else
 * ~/.cache/huggingface; and the hub they download from, as the Hugging Face tools read it (HF_ENDPOINT,
 * HF_HUB_OFFLINE=1 for none).
 */
export const modelCache = (
  env: Record<string, string | undefined>
): Pick<TransformersChoice, "cacheDir" | "cacheVariable" | "hub"> => ({
  ...(env.ISARTOR_HF_CACHE_DIR
    ? { cacheDir: env.ISARTOR_HF_CACHE_DIR, cacheVariable: "ISARTOR_HF_CACHE_DIR" }
    : env.HF_HOME
    ? { cacheDir: env.HF_HOME, cacheVariable: "HF_HOME" }
    : {
      cacheDir: join(env.HOME || env.USERPROFILE || homedir(), ".cache", "huggingface"),
      cacheVariable: "the default: neither ISARTOR_HF_CACHE_DIR nor HF_HOME is set"
    }),
  hub: /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? "") ? "" : (env.HF_ENDPOINT || DEFAULT_HUB).replace(/\/+$/, "")
})

const exists = (path: string) => access(path, constants.R_OK).then(() => true, () => false)

/** A model on this machine (and the variable that pointed at it), or one to download into the cache. */
type ModelPlace = { directory: string; variable: string } | { repository: string; cacheDir: string }

/** Where the model's files are, or a message saying exactly what to set. */
const locate = async (choice: TransformersChoice): Promise<ModelPlace | string> => {
  if (choice.modelPath !== "") {
    const directory = resolve(choice.modelPath)
    return (await exists(join(directory, "config.json")))
      ? { directory, variable: "ISARTOR__EMBEDDING_MODEL_PATH" }
      : `no model at ${directory} (ISARTOR__EMBEDDING_MODEL_PATH): expected config.json, tokenizer.json and onnx/model.onnx there`
  }
  const known = knownModels[choice.model]
  if (!known) {
    const directory = resolve(choice.model)
    if (isAbsolute(choice.model) || choice.model.startsWith(".")) {
      return (await exists(join(directory, "config.json")))
        ? { directory, variable: "ISARTOR__EMBEDDING_MODEL" }
        : `no model at ${directory} (ISARTOR__EMBEDDING_MODEL): expected config.json, tokenizer.json and onnx/model.onnx there`
    }
    return `unknown embedding model "${choice.model}" (ISARTOR__EMBEDDING_MODEL): use use-lite, ${
      Object.keys(knownModels).join(", ")
    } or a model directory`
  }
  if (choice.cacheDir === "") {
    return `${choice.model} is not on this machine: set ISARTOR__EMBEDDING_MODEL_PATH to a directory holding ${known.repository}, or ISARTOR_HF_CACHE_DIR / HF_HOME to a cache it can be downloaded to`
  }
  const cacheDir = resolve(choice.cacheDir)
  const cached = join(cacheDir, known.repository)
  if (await exists(join(cached, "config.json"))) {
    return { directory: cached, variable: choice.cacheVariable ?? "ISARTOR_HF_CACHE_DIR" }
  }
  // Not cached: it will be downloaded there, so the directory must be writable.
  const writable = await mkdir(cacheDir, { recursive: true }).then(() => access(cacheDir, constants.W_OK)).then(
    () => true,
    () => false
  )
  if (!writable) {
    const deno = "Deno" in globalThis ? " (Deno also needs --allow-write for it)" : ""
    return `the model cache ${cacheDir} (${
      choice.cacheVariable ?? "ISARTOR_HF_CACHE_DIR"
    }) cannot be created or written, and ${choice.model} is not in it: set HF_HOME (or ISARTOR_HF_CACHE_DIR) to a writable path${deno}, e.g. /tmp/huggingface, copy ${known.repository}'s files to ${
      join(cacheDir, known.repository)
    }, or set ISARTOR__EMBEDDING_MODEL_PATH to a directory holding them`
  }
  if (choice.hub === "") {
    return `${notCached(choice.model, cacheDir, choice.cacheVariable)}, and downloads are off (HF_HUB_OFFLINE): ${
      howToProvide(known.repository, cacheDir)
    }`
  }
  return { repository: known.repository, cacheDir }
}

const notCached = (model: string, cacheDir: string, variable = "ISARTOR_HF_CACHE_DIR") =>
  `${model} is not in the model cache ${cacheDir} (${variable})`

const howToProvide = (repository: string, cacheDir: string) =>
  `run once with access to the hub (it downloads to ${cacheDir}), copy ${repository}'s config.json, tokenizer.json and onnx/model.onnx to ${
    join(cacheDir, repository)
  }, or set ISARTOR__EMBEDDING_MODEL_PATH to a directory holding them`

/** Why the hub cannot be reached, or `undefined` when it answers at all (any HTTP status). */
const hubProblem = async (hub: string): Promise<string | undefined> => {
  try {
    const response = await fetch(`${hub}/`, { method: "HEAD", redirect: "manual", signal: AbortSignal.timeout(5000) })
    await response.body?.cancel()
    return undefined
  } catch (error) {
    const { cause, code, message } = error as {
      cause?: { code?: string; message?: string }
      code?: string
      message?: string
    }
    return cause?.code ?? code ?? cause?.message ?? message ?? String(error)
  }
}

/** The pooling a sentence-transformers directory prescribes (1_Pooling/config.json), else the known model's, else mean. */
const poolingOf = async (directory: string, model: string): Promise<"mean" | "cls"> => {
  const pooling = await readFile(join(directory, "1_Pooling", "config.json"), "utf8").then(
    (text) => JSON.parse(text) as { pooling_mode_cls_token?: boolean },
    () => undefined
  )
  if (pooling) return pooling.pooling_mode_cls_token ? "cls" : "mean"
  return knownModels[model]?.pooling ?? (/bge/i.test(directory) ? "cls" : "mean")
}

/** The WASM build of onnxruntime-web transformers.js runs on, as the binary embeds it (`cli/build.ts`). */
export const ORT_WASM_FILES = ["ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"] as const

/** transformers.js's package build, on onnxruntime-web's WASM build registered in place of onnxruntime-node. */
const packageBuild = async () => {
  const ort = await import("onnxruntime-web")
  ort.env.wasm.wasmPaths = `${dirname(fileURLToPath(import.meta.resolve("onnxruntime-web")))}/`
  ort.env.wasm.numThreads = 1
  ;(globalThis as Record<symbol, unknown>)[Symbol.for("onnxruntime")] = ort
  return await import("@huggingface/transformers")
}

/**
 * In the single binary: transformers.js's web build (its Node build needs onnxruntime-node and sharp, native code a
 * compiled binary cannot carry), on onnxruntime-web whose WASM files the binary embeds beside its code.
 */
const webBuild = async () => {
  const ort = await import("onnxruntime-web")
  const here = dirname(fileURLToPath(import.meta.url))
  ort.env.wasm.wasmPaths = { mjs: join(here, ORT_WASM_FILES[0]), wasm: join(here, ORT_WASM_FILES[1]) }
  ort.env.wasm.numThreads = 1
  ;(globalThis as Record<symbol, unknown>)[Symbol.for("onnxruntime")] = ort
  // The web build decides how to read model files from `process.release.name` when it loads: under "node" it hands
  // onnxruntime a file path, which the WASM runtime cannot open; otherwise it reads the bytes itself.
  const release = process.release
  Object.defineProperty(process, "release", { value: { ...release, name: "isartor-binary" }, configurable: true })
  try {
    // @ts-expect-error: the web build ships no declarations of its own; its API is the package's.
    const web = await import("../../node_modules/@huggingface/transformers/dist/transformers.web.js")
    return web as typeof import("@huggingface/transformers")
  } finally {
    Object.defineProperty(process, "release", { value: release, configurable: true })
  }
}

type Transformers = Awaited<ReturnType<typeof packageBuild>>

/** transformers.js in the build this process can run: the web build in the single binary, the package's elsewhere. */
const loadLibrary = async (compiled: boolean): Promise<Transformers> => {
  // In a Deno worker, `location.origin` is the string "null", which onnxruntime-web's bundle uses as a URL base and
  // fails on; a file-based worker has no web origin to offer, so it is hidden before the bundle loads.
  const scope = globalThis as { location?: { origin?: string } }
  if (scope.location?.origin === "null") {
    Object.defineProperty(globalThis, "location", { value: undefined, configurable: true, writable: true })
  }
  return compiled ? await webBuild() : await packageBuild()
}

/** Points transformers.js at the model: a local directory (no download), or the cache missing files download to. */
const pointAt = (env: Transformers["env"], place: ModelPlace, hub: string, compiled: boolean) => {
  const local = "directory" in place
  env.allowLocalModels = true
  env.allowRemoteModels = !local
  if (local) {
    // The web build (the binary's) reads local files with fetch, so it takes a file: URL.
    env.localModelPath = compiled ? `${pathToFileURL(dirname(place.directory)).href}/` : `${dirname(place.directory)}/`
  } else {
    env.cacheDir = place.cacheDir
    env.localModelPath = `${place.cacheDir}/`
    env.remoteHost = `${hub}/`
  }
}

/** The feature-extraction pipeline for model `id`; a failure says where it looked, or why the hub could not help. */
const openExtractor = (pipeline: Transformers["pipeline"], id: string, place: ModelPlace, choice: TransformersChoice) =>
  // "auto" passes the device check (no devices are listed for a runtime supplied this way); WASM runs the session.
  pipeline("feature-extraction", id, {
    dtype: "fp32",
    device: "auto",
    session_options: { executionProviders: ["wasm"] }
  }).catch(async (error: unknown) => {
    if ("repository" in place) {
      const unreachable = await hubProblem(choice.hub ?? DEFAULT_HUB)
      if (unreachable !== undefined) {
        throw new Error(
          `${notCached(choice.model, place.cacheDir, choice.cacheVariable)}, and the hub at ${
            choice.hub ?? DEFAULT_HUB
          } could not be reached to download it (${unreachable}): ${howToProvide(place.repository, place.cacheDir)}`
        )
      }
    }
    const where = "directory" in place
      ? `${place.directory} (${place.variable})`
      : `${place.repository}, cached in ${place.cacheDir}`
    throw new Error(
      `cannot load the embedding model from ${where}: ${error instanceof Error ? error.message : String(error)}`
    )
  })

/**
 * MiniLM, bge or any BERT-like sentence encoder through @huggingface/transformers, on onnxruntime-web's WASM build
 * (the same on Node, Bun and Deno; onnxruntime-node's native install is skipped). Loads from a local directory or
 * the HF cache; downloads only when the model is not there (and so only where the hub is reachable). Input is cut
 * by the tokenizer to the model's maximum length.
 */
export const loadTransformers = async (choice: TransformersChoice): Promise<EmbeddingBackend> => {
  const compiled = /\$bunfs|~BUN/.test(import.meta.url)
  const place = await locate(choice)
  if (typeof place === "string") throw new Error(place)
  if (compiled && !("directory" in place)) {
    throw new Error(
      `${choice.model} is not on this machine, and the single binary does not download models: set ISARTOR__EMBEDDING_MODEL_PATH to a directory holding ${place.repository}`
    )
  }
  const { env, pipeline } = await loadLibrary(compiled)
  pointAt(env, place, choice.hub ?? DEFAULT_HUB, compiled)
  const local = "directory" in place
  const id = local ? place.directory.slice(dirname(place.directory).length + 1) : place.repository
  const extractor = await openExtractor(pipeline, id, place, choice)
  const pooling = await poolingOf(local ? place.directory : join(place.cacheDir, place.repository), choice.model)
  const embed = async (texts: ReadonlyArray<string>) => {
    const output = await extractor([...texts], { pooling, normalize: true })
    const [rows, dimensions] = output.dims as [number, number]
    const data = output.data as Float32Array
    return Array.from({ length: rows }, (_, row) => data.slice(row * dimensions, (row + 1) * dimensions))
  }
  const [probe] = await embed(["warm up the encoder"])
  return {
    name: local ? `transformers:${id}` : choice.model,
    dimensions: probe!.length,
    // The tokenizer truncates to the model's maximum length; this only bounds the text handed to it.
    maxInputChars: 8192,
    embed,
    dispose: async () => {
      await extractor.dispose()
    }
  }
}
