import { bold, dim, green, printJson, usageError, yellow } from "../output.ts"
import { CONNECTORS, isFileTool } from "./connectors.ts"
import { envScript, parseShell } from "./env.ts"
import { tildify } from "./files.ts"
import { type GatewayTarget, resolveGateway } from "./gateway.ts"
import {
  applyConnect,
  applyDisconnect,
  type ConnectPlan,
  type DisconnectPlan,
  planConnect,
  planDisconnect
} from "./settings.ts"
import { status } from "./status.ts"
import { type Connector, type FileTool, type FileToolId, TOOLS } from "./tools.ts"

export interface ConnectOptions {
  readonly list?: boolean
  readonly disconnect?: boolean
  readonly dryRun?: boolean
  readonly project?: boolean
  readonly shell?: string
  readonly url?: string
  readonly key?: string
  readonly json?: boolean
}

/** Secrets are shown as what they are, never as their value. */
const shown = (value: unknown, gateway: GatewayTarget) =>
  value === gateway.key && gateway.key !== "" ? "(the gateway key)" : JSON.stringify(value)

const warn = (line: string) => console.error(yellow(`warning: ${line}`, process.stderr))

/** Every file is worked out before any is written: one that cannot be edited leaves all of them as they were. */
const planFiles = (connector: Connector, gateway: GatewayTarget) =>
  connector.files.map((file) => ({
    file,
    plan: planConnect(file.id, file.format, file.file, (doc) => file.settings(gateway, doc))
  }))

const warningsOf = (planned: ReadonlyArray<{ file: FileTool; plan: ConnectPlan }>, gateway: GatewayTarget) => [
  ...planned.flatMap(({ file, plan }) => file.warnings?.(file.format.parse(plan.text), gateway) ?? []),
  ...(gateway.running || gateway.source === "--url"
    ? []
    : [`no gateway is running here yet (${gateway.url} is from the ${gateway.source}): start it with isartor up`])
]

const undoCommand = (id: FileToolId, options: ConnectOptions) =>
  `isartor connect ${id}${options.project ? " --project" : ""} --disconnect`

const sayConnected = (
  id: FileToolId,
  connector: Connector,
  planned: ReadonlyArray<{ file: FileTool; plan: ConnectPlan }>,
  gateway: GatewayTarget,
  options: ConnectOptions
) => {
  const changed = planned.filter(({ plan }) => plan.changed)
  if (changed.length === 0) {
    const files = planned.map(({ plan }) => tildify(plan.file)).join(", ")
    console.log(`${connector.name} already goes through ${bold(gateway.url)}: ${files} unchanged`)
    return
  }
  console.log(
    options.dryRun
      ? `${yellow("dry run")}: connecting ${connector.name} to ${bold(gateway.url)} would change (nothing written):`
      : `${green("connected")} ${connector.name} to ${bold(gateway.url)}:`
  )
  for (const { plan } of changed) {
    console.log(`  ${plan.created ? (options.dryRun ? "would create " : "created ") : ""}${tildify(plan.file)}`)
    for (const { path, value } of plan.settings) console.log(`    ${path.join(".")} = ${shown(value, gateway)}`)
  }
  if (!options.dryRun) console.log(dim(`undo: ${undoCommand(id, options)} (restores the files exactly)`))
}

const connectTool = async (id: FileToolId, connector: Connector, options: ConnectOptions) => {
  const gateway = await resolveGateway(options)
  const planned = planFiles(connector, gateway)
  if (!options.dryRun) { for (const { plan } of planned) applyConnect(plan) }
  const warnings = warningsOf(planned, gateway)
  const instructions = connector.instructions?.(gateway) ?? []
  if (options.json) {
    const settings = planned.flatMap(({ plan }) => plan.settings)
    printJson({
      tool: id,
      dryRun: options.dryRun === true,
      file: planned[0]!.plan.file,
      changed: planned.some(({ plan }) => plan.changed),
      created: planned.some(({ plan }) => plan.created),
      url: planned.find(({ file }) => file.urlFor !== undefined)?.file.urlFor?.(gateway) ?? gateway.url,
      settings: Object.fromEntries(settings.map(({ path, value }) => [path.join("."), shown(value, gateway)])),
      files: planned.map(({ plan }) => ({ file: plan.file, changed: plan.changed, created: plan.created })),
      warnings,
      instructions
    })
    return 0
  }
  sayConnected(id, connector, planned, gateway, options)
  for (const line of instructions) console.log(line)
  for (const warning of warnings) warn(warning)
  return 0
}

const disconnectMessage = (name: string, plan: DisconnectPlan, dryRun: boolean) => {
  const file = tildify(plan.file)
  const done = dryRun ? `${yellow("dry run")} ${name}: would` : `${green("disconnected")} ${name}:`
  return {
    restored: dryRun ? `${done} put ${file} back as it was` : `${done} ${file} is back as it was`,
    removed: `${done} ${dryRun ? "remove" : "removed"} ${file} (isartor connect created it)`,
    edited: `${done} put back the keys isartor connect changed in ${file} (the rest of your edits since stay)`,
    "not-connected": `${name} was not connected by isartor connect (no record for ${file}): nothing changed`,
    gone: `${file} no longer exists: nothing to undo`
  }[plan.outcome]
}

const disconnectTool = (id: FileToolId, connector: Connector, options: ConnectOptions) => {
  const plans = connector.files.map((file) => planDisconnect(file.id, file.format, file.file))
  if (!options.dryRun) { for (const plan of plans) applyDisconnect(plan) }
  if (options.json) {
    const files = plans.map(({ file, kept, outcome }) => ({ file, outcome, kept }))
    printJson({ tool: id, dryRun: options.dryRun === true, ...files[0]!, files })
    return 0
  }
  for (const plan of plans) {
    console.log(disconnectMessage(connector.name, plan, options.dryRun === true))
    for (const key of plan.kept) warn(`left ${key} as it is: it changed since isartor connect set it`)
  }
  return 0
}

/** `isartor connect <tool>`, `--disconnect`, `--dry-run`, `--list`. */
export const connect = async (tool: string | undefined, options: ConnectOptions): Promise<number> => {
  if (options.list || tool === "status") return status(options)
  if (tool === undefined) throw usageError(`which tool? isartor connect ${TOOLS.join("|")} (or --list)`)
  if (options.project && tool !== "claude") throw usageError("--project is for claude only")
  if (options.shell !== undefined && !["env", "copilot", "antigravity"].includes(tool)) {
    throw usageError("--shell is for env, copilot and antigravity")
  }
  if (options.dryRun && !isFileTool(tool)) {
    throw usageError(
      `--dry-run is for the tools whose files isartor connect edits: ${Object.keys(CONNECTORS).join(", ")}`
    )
  }
  if (tool === "env") {
    const shell = parseShell(options.shell)
    process.stdout.write(envScript(await resolveGateway(options), shell, options.disconnect === true))
    return 0
  }
  if (tool === "copilot" || tool === "antigravity") {
    return (await import("./proxyTools.ts")).connectProxyTool(tool, options)
  }
  if (!isFileTool(tool)) throw usageError(`unknown tool ${tool}: one of ${TOOLS.join(", ")}`)
  const connector = CONNECTORS[tool]({ project: options.project === true })
  return options.disconnect ? disconnectTool(tool, connector, options) : connectTool(tool, connector, options)
}
