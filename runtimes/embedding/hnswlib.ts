import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"

let loading: Promise<HnswlibModule> | undefined

/**
 * Loads hnswlib-wasm, which was built for browsers: it wants a `window` and an IndexedDB for its (unused)
 * file-system sync, so both are provided here, in the runtime layer, and `core/` stays free of globals. Its
 * start-up chatter on the console is muted while it loads. Loaded once per process: concurrent callers share the
 * one load, so the muting of `console.log` is never nested.
 */
export const loadHnswlib = (): Promise<HnswlibModule> => {
  loading ??= (async () => {
    await import("fake-indexeddb/auto")
    const global = globalThis as { window?: unknown }
    global.window ??= globalThis
    const { loadHnswlib: load } = await import("hnswlib-wasm/dist/hnswlib.js")
    const log = console.log
    console.log = () => undefined
    try {
      const library = await load()
      // Its file-system sync reports "jsFS synced successfully" from a timer after loading: on a busy machine that
      // can come after `load` returned, so the console stays muted until the sync is done (at most 2 s).
      for (let waited = 0; !library.EmscriptenFileSystemManager.isSynced() && waited < 2000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await new Promise((resolve) => setTimeout(resolve, 2))
      return library
    } finally {
      console.log = log
    }
  })()
  return loading
}
