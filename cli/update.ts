import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, copyFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { arch, platform } from "node:os"
import { basename, dirname, join, sep } from "node:path"
import { VERSION } from "../core/version.ts"
import { PROXY_SERVER_VARS, proxyCleanupLines } from "./connect/env.ts"
import { type CommandHost, projectRoot } from "./host.ts"
import { CliFailure, green, printJson } from "./output.ts"

export interface UpdateOptions {
  readonly check?: boolean
  readonly yes?: boolean
  readonly json?: boolean
  /** The single binary to replace; by default the running one, when this is the single binary. */
  readonly binary?: string
}

/** Where versions and release assets are published; the variables point elsewhere (a mirror, a test server). */
const registryUrl = () => (process.env.ISARTOR_UPDATE_REGISTRY || "https://registry.npmjs.org").replace(/\/+$/, "")
const releasesUrl = () =>
  (process.env.ISARTOR_UPDATE_RELEASES || "https://github.com/isartor-ai/isartor/releases/download").replace(/\/+$/, "")

/** Newer by numeric major.minor.patch; a pre-release is older than its release. */
export const isNewer = (candidate: string, current: string) => {
  const parse = (version: string) => {
    const [core, pre] = version.replace(/^v/, "").split("-", 2)
    return { parts: core!.split(".").map((part) => Number(part) || 0), pre: pre !== undefined }
  }
  const a = parse(candidate)
  const b = parse(current)
  for (let i = 0; i < 3; i++) {
    if ((a.parts[i] ?? 0) !== (b.parts[i] ?? 0)) return (a.parts[i] ?? 0) > (b.parts[i] ?? 0)
  }
  return !a.pre && b.pre
}

/** A network failure, with the FAQ's answer when the shell still points at a proxy that is gone. */
const unreachable = (what: string, url: string, error: unknown) => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  const reason = cause?.code ?? cause?.message ?? (error as Error).message
  const proxies = PROXY_SERVER_VARS.filter((name) => process.env[name])
  const hint = proxies.length > 0
    ? `\nThis shell still has proxy variables (${
      proxies.map((name) => `${name}=${process.env[name]}`).join(", ")
    }), perhaps from an earlier isartor connect session whose proxy is gone. Clear them:\n` +
      proxyCleanupLines().map((line) => `  ${line}`).join("\n")
    : "\nOffline? Check the network connection and try again."
  return new CliFailure(`cannot reach ${what} at ${url} (${reason}).${hint}`)
}

const get = async (what: string, url: string) => {
  let response: Response
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(30_000) })
  } catch (error) {
    throw unreachable(what, url, error)
  }
  if (!response.ok) throw new CliFailure(`${what} answered ${response.status} for ${url}`)
  return response
}

const target = () => `${platform() === "win32" ? "windows" : platform()}-${arch()}`

const permissionDenied = (path: string) =>
  new CliFailure(
    `cannot replace ${path}: permission denied — it is installed in a system-managed directory.\n` +
      "Move it to a directory you own, then update again:\n" +
      "  mkdir -p ~/.local/bin\n" +
      `  cp ${path} ~/.local/bin/isartor\n` +
      "  chmod +x ~/.local/bin/isartor\n" +
      "  export PATH=\"$HOME/.local/bin:$PATH\"\n" +
      "  hash -r\n" +
      "Then confirm: which isartor"
  )

/**
 * Downloads the release asset for this platform beside the binary, checks its SHA-256 against the published
 * SHA256SUMS, keeps the old binary as `.bak`, and renames the new one into place (atomic on one file system).
 * A wrong checksum replaces nothing.
 */
const replaceBinary = async (path: string, version: string) => {
  const asset = `isartor-${target()}${platform() === "win32" ? ".exe" : ""}`
  const base = `${releasesUrl()}/v${version}`
  const sums = await (await get("the release server", `${base}/SHA256SUMS`)).text()
  const expected = sums.split("\n").map((line) => line.trim().split(/\s+\*?/)).find(([, name]) => name === asset)?.[0]
  if (!expected) throw new CliFailure(`the release v${version} publishes no checksum for ${asset}; nothing replaced`)
  const bytes = new Uint8Array(await (await get("the release server", `${base}/${asset}`)).arrayBuffer())
  const actual = createHash("sha256").update(bytes).digest("hex")
  if (actual !== expected.toLowerCase()) {
    throw new CliFailure(
      `the downloaded ${asset} does not match its published SHA-256 (expected ${expected}, got ${actual}); refused, nothing replaced`
    )
  }
  const partial = join(dirname(path), `.${basename(path)}.${process.pid}.download`)
  try {
    writeFileSync(partial, bytes, { mode: statSync(path).mode & 0o777 | 0o755 })
    chmodSync(partial, statSync(path).mode & 0o777 | 0o755)
    if (platform() === "win32") {
      // Windows cannot overwrite a running executable, but it can rename it out of the way.
      rmSync(`${path}.bak`, { force: true })
      renameSync(path, `${path}.bak`)
    } else copyFileSync(path, `${path}.bak`)
    renameSync(partial, path)
  } catch (error) {
    rmSync(partial, { force: true })
    if ((error as NodeJS.ErrnoException).code === "EACCES" || (error as NodeJS.ErrnoException).code === "EPERM") {
      throw permissionDenied(path)
    }
    throw error
  }
}

/** How this copy of the package was installed, told by where its files are: what updating it means. */
type NpmInstall =
  | { readonly kind: "global" }
  | { readonly kind: "local"; readonly project: string }
  | { readonly kind: "npx" }
  | { readonly kind: "checkout"; readonly root: string }

const npmInstall = (root = projectRoot().replace(/[\\/]+$/, "")): NpmInstall => {
  if (basename(dirname(root)) !== "node_modules") return { kind: "checkout", root }
  // npx keeps what it ran in a cache folder of its own (…/_npx/<hash>/node_modules/isartor).
  if (root.split(sep).includes("_npx")) return { kind: "npx" }
  const globalRoot = spawnSync("npm", ["root", "-g"], { encoding: "utf8", shell: platform() === "win32" }).stdout
    ?.trim()
  return globalRoot && dirname(root) === globalRoot
    ? { kind: "global" }
    : { kind: "local", project: dirname(dirname(root)) }
}

/** The command that updates an npm install to `version`, where to run it, and whether this command may run it. */
const npmUpdate = (install: NpmInstall, version: string) => {
  switch (install.kind) {
    case "global":
      return { command: `npm i -g isartor@${version}`, args: ["i", "-g", `isartor@${version}`], runnable: true }
    case "local":
      return {
        command: `npm i isartor@${version} (in ${install.project})`,
        args: ["i", `isartor@${version}`],
        cwd: install.project,
        runnable: true
      }
    case "npx":
      return { command: `npx isartor@${version} up (npx runs the version it is given)`, args: [], runnable: false }
    case "checkout":
      return { command: `git -C ${install.root} pull && npm ci --prefix ${install.root}`, args: [], runnable: false }
  }
}

/** `isartor update`: a newer release replaces the single binary; an npm install is told (or runs) the npm command. */
export const update = async (options: UpdateOptions, host: CommandHost): Promise<number> => {
  const registry = registryUrl()
  const latest = (await (await get("the npm registry", `${registry}/isartor/latest`)).json()) as { version?: string }
  if (!latest.version) throw new CliFailure(`the npm registry at ${registry} lists no version of isartor`)
  const newer = isNewer(latest.version, VERSION)
  const binary = options.binary ?? (host.compiled ? process.execPath : undefined)
  // The single binary replaces itself; an npm install (or a checkout) updates as it was installed.
  const how = binary ? { binary } : { npm: npmUpdate(npmInstall(), latest.version) }
  const report = (result: Record<string, unknown>, line: string) => {
    if (options.json) printJson({ current: VERSION, latest: latest.version, ...result })
    else console.log(line)
  }
  if (!newer) {
    report({ updated: false, upToDate: true }, `isartor ${VERSION} is up to date`)
    return 0
  }
  if (options.check) {
    report(
      { updated: false, upToDate: false },
      `isartor ${latest.version} is available (this is ${VERSION}); update with: ${
        how.npm?.runnable === false ? how.npm.command : "isartor update"
      }`
    )
    return 0
  }
  if (how.npm) {
    const npm = how.npm
    if (!options.yes || !npm.runnable) {
      report(
        { updated: false, command: npm.command },
        `isartor ${latest.version} is available (this is ${VERSION}). Update with:\n  ${npm.command}${
          npm.runnable ? "\n(or run isartor update --yes to have it run)" : ""
        }`
      )
      return 0
    }
    const result = spawnSync("npm", npm.args, {
      stdio: "inherit",
      shell: platform() === "win32",
      ...(npm.cwd ? { cwd: npm.cwd } : {})
    })
    if (result.status !== 0) throw new CliFailure(`${npm.command} failed (exit ${result.status ?? "signal"})`)
    report({ updated: true, command: npm.command }, green(`updated to isartor ${latest.version}`))
    return 0
  }
  await replaceBinary(how.binary, latest.version)
  report(
    { updated: true, binary, backup: `${binary}.bak` },
    `${green(`updated ${binary} to isartor ${latest.version}`)} (the previous one is ${binary}.bak)\n` +
      "A running gateway keeps the old version until: isartor stop && isartor up --detach"
  )
  return 0
}
