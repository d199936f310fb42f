// Types of bin/prebuilt.mjs, for the TypeScript that imports it (cli/build.ts).

/** The compiled command's entrypoint (a file URL), compiling it first when the sources changed; `undefined`: tsx. */
export declare const prebuiltEntry: () => string | undefined

/** A worker thread's compiled entrypoint (a file URL) from the current build; `undefined`: run it through tsx. */
export declare const prebuiltWorker: (source: string) => string | undefined

/** What a bundler plugin's `setup` is given, as far as `lazyTfjs` uses it (esbuild's and Bun's alike). */
export interface PluginBuild {
  readonly onLoad: (
    options: { readonly filter: RegExp },
    load: (args: { readonly path: string }) => { readonly contents: string; readonly loader: "js" }
  ) => void
}

/** The bundler plugin that makes USE-lite's package require TF.js on first use rather than at its top. */
export declare const lazyTfjs: { readonly name: string; readonly setup: (build: PluginBuild) => void }
