import { bold, dim, green, printJson, usageError, yellow } from "../output.ts"
import { claude } from "./claude.ts"
import { codex } from "./codex.ts"
import { envScript, parseShell } from "./env.ts"
import { tildify } from "./files.ts"
import { type GatewayTarget, resolveGateway } from "./gateway.ts"
import { connectFile, disconnectFile, parseOrRefuse } from "./settings.ts"
import { status } from "./status.ts"
import { type FileTool, TOOLS } from "./tools.ts"

export interface ConnectOptions {
  readonly list?: boolean
  readonly disconnect?: boolean
  readonly project?: boolean
  readonly shell?: string
  readonly url?: string
  readonly key?: string
  readonly json?: boolean
}

const fileTool = (tool: string, options: ConnectOptions): FileTool | undefined =>
  tool === "claude" ? claude(options.project === true) : tool === "codex" ? codex() : undefined

/** Secrets are shown as what they are, never as their value. */
const shown = (value: unknown, gateway: GatewayTarget) =>
  value === gateway.key && gateway.key !== "" ? "(the gateway key)" : JSON.stringify(value)

const connectTool = async (tool: FileTool, options: ConnectOptions) => {
  const gateway = await resolveGateway(options)
  const settings = tool.settings(gateway)
  const result = connectFile(tool.id, tool.format, tool.file, settings)
  const { readFileSync } = await import("node:fs")
  const doc = parseOrRefuse(tool.format, result.file, readFileSync(result.file, "utf8"))
  const warnings = [
    ...(tool.warnings?.(doc, gateway) ?? []),
    ...(gateway.running || gateway.source === "--url"
      ? []
      : [`no gateway is running here yet (${gateway.url} is from the ${gateway.source}): start it with isartor up`])
  ]
  if (options.json) {
    printJson({
      tool: tool.id,
      file: result.file,
      changed: result.changed,
      created: result.created,
      url: tool.urlFor(gateway),
      settings: Object.fromEntries(settings.map(({ path, value }) => [path.join("."), shown(value, gateway)])),
      warnings
    })
    return 0
  }
  if (result.changed) {
    console.log(
      `${green("connected")} ${tool.name} to ${bold(gateway.url)}: ${result.created ? "created " : ""}${
        tildify(result.file)
      }`
    )
    for (const { path, value } of settings) console.log(`  ${path.join(".")} = ${shown(value, gateway)}`)
    const project = tool.id === "claude-project" ? " --project" : ""
    console.log(
      dim(`undo: isartor connect ${tool.id.replace("-project", "")}${project} --disconnect (restores the file exactly)`)
    )
  } else {
    console.log(`${tool.name} already goes through ${bold(gateway.url)}: ${tildify(result.file)} unchanged`)
  }
  for (const warning of warnings) console.error(yellow(`warning: ${warning}`, process.stderr))
  return 0
}

const disconnectTool = (tool: FileTool, options: ConnectOptions) => {
  const result = disconnectFile(tool.id, tool.format, tool.file)
  if (options.json) {
    printJson({ tool: tool.id, file: result.file, outcome: result.outcome, kept: result.kept })
    return 0
  }
  const file = tildify(result.file)
  const message = {
    restored: `${green("disconnected")} ${tool.name}: ${file} is back as it was`,
    removed: `${green("disconnected")} ${tool.name}: removed ${file} (isartor connect created it)`,
    edited: `${
      green("disconnected")
    } ${tool.name}: put back the keys isartor connect changed in ${file} (the rest of your edits since stay)`,
    "not-connected": `${tool.name} was not connected by isartor connect (no record for ${file}): nothing changed`,
    gone: `${file} no longer exists: nothing to undo`
  }[result.outcome]
  console.log(message)
  for (const key of result.kept) {
    console.error(yellow(`warning: left ${key} as it is: it changed since isartor connect set it`, process.stderr))
  }
  return 0
}

/** `isartor connect <tool>`, `--disconnect`, `--list`. */
export const connect = async (tool: string | undefined, options: ConnectOptions): Promise<number> => {
  if (options.list || tool === "status") return status(options)
  if (tool === undefined) throw usageError(`which tool? isartor connect ${TOOLS.join("|")} (or --list)`)
  if (options.project && tool !== "claude") throw usageError("--project is for claude only")
  if (options.shell !== undefined && !["env", "copilot", "antigravity"].includes(tool)) {
    throw usageError("--shell is for env, copilot and antigravity")
  }
  if (tool === "env") {
    const shell = parseShell(options.shell)
    process.stdout.write(envScript(await resolveGateway(options), shell, options.disconnect === true))
    return 0
  }
  if (tool === "copilot" || tool === "antigravity") {
    return (await import("./proxyTools.ts")).connectProxyTool(tool, options)
  }
  const fileToolFound = fileTool(tool, options)
  if (fileToolFound === undefined) throw usageError(`unknown tool ${tool}: one of ${TOOLS.join(", ")}`)
  return options.disconnect ? disconnectTool(fileToolFound, options) : connectTool(fileToolFound, options)
}
