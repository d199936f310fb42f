import { isDeepStrictEqual } from "node:util"
import { bold, dim, green, printJson, yellow } from "../output.ts"
import { liveness, stateDir } from "../state.ts"
import { CONNECTORS } from "./connectors.ts"
import { envSettings } from "./env.ts"
import { readSettingsFile, tildify } from "./files.ts"
import { type GatewayOptions, type GatewayTarget, resolveGateway } from "./gateway.ts"
import { UNUSED_GATEWAY } from "./proxyTools.ts"
import { loadRecord } from "./records.ts"
import { getPath } from "./settings.ts"
import type { Connector, FileTool, FileToolId } from "./tools.ts"
import { vscodeTool } from "./vscode.ts"

export type ToolState = "connected" | "elsewhere" | "not connected" | "unreadable"

export interface ToolStatus {
  readonly tool: string
  readonly name: string
  readonly state: ToolState
  /** Where it sends requests now, when it says. */
  readonly url?: string
  readonly where: string
  /** A connect of isartor's can be undone with --disconnect. */
  readonly undoable: boolean
  readonly detail?: string
}

/** A tool is connected when its own file holds every setting a connect would write now. */
const fileStatus = (tool: FileTool, gateway: GatewayTarget): ToolStatus => {
  const base = { tool: tool.id, name: tool.name, where: tildify(tool.file) }
  let found
  try {
    found = readSettingsFile(tool.file)
  } catch (error) {
    return { ...base, state: "unreadable", undoable: false, detail: (error as Error).message }
  }
  const undoable = loadRecord(tool.id, found.path) !== undefined
  if (found.text === undefined) return { ...base, state: "not connected", undoable, detail: "no such file" }
  let doc: Record<string, unknown>
  try {
    doc = tool.format.parse(found.text)
  } catch (error) {
    return {
      ...base,
      state: "unreadable",
      undoable,
      detail: `not valid ${tool.format.name}: ${(error as Error).message}`
    }
  }
  const url = tool.urlKey === undefined ? undefined : getPath(doc, tool.urlKey)
  const all = tool.settings(gateway, doc).every(({ path, value }) => isDeepStrictEqual(getPath(doc, path), value))
  const state: ToolState = all ? "connected" : typeof url === "string" && undoable ? "elsewhere" : "not connected"
  return { ...base, state, undoable, ...(typeof url === "string" ? { url } : {}) }
}

/** The proxy tools (Copilot, Antigravity) whose editor settings send them through the proxy at `proxyUrl` now. */
export const connectedProxyTools = (proxyUrl: string): Array<"copilot" | "antigravity"> => {
  return (["copilot", "antigravity"] as const).filter((id) =>
    fileStatus(vscodeTool(id, proxyUrl), UNUSED_GATEWAY).state === "connected"
  )
}

/** A tool with several files is connected when each of them is; the one naming the URL says where it points. */
const connectorStatus = (id: FileToolId, connector: Connector, gateway: GatewayTarget): ToolStatus => {
  const files = connector.files.map((file) => ({ file, status: fileStatus(file, gateway) }))
  const where = files.map(({ status }) => status.where).join(", ")
  const base = { tool: id, name: connector.name, where, undoable: files.some(({ status }) => status.undoable) }
  const unreadable = files.find(({ status }) => status.state === "unreadable")
  if (unreadable !== undefined) return { ...unreadable.status, ...base, state: "unreadable" }
  const named = files.find(({ file }) => file.urlKey !== undefined)?.status
  const url = named?.url
  const state: ToolState = files.every(({ status }) => status.state === "connected")
    ? "connected"
    : named?.state === "elsewhere"
    ? "elsewhere"
    : "not connected"
  const missing = files.every(({ status }) => status.detail === "no such file")
  return { ...base, state, ...(url === undefined ? {} : { url }), ...(missing ? { detail: "no such file" } : {}) }
}

/** `connect env` lives in a shell: this one is connected when its variables point at the gateway. */
const envStatus = (gateway: GatewayTarget): ToolStatus => {
  const [openai, anthropic] = envSettings(gateway)
  const set = [openai!, anthropic!].filter(([name, value]) => process.env[name] === value)
  return {
    tool: "env",
    name: "this shell (OPENAI_BASE_URL, ANTHROPIC_BASE_URL)",
    where: "environment",
    state: set.length === 2 ? "connected" : set.length === 1 ? "elsewhere" : "not connected",
    undoable: false,
    ...(process.env.OPENAI_BASE_URL ? { url: process.env.OPENAI_BASE_URL } : {})
  }
}

/** A proxy tool is connected to the proxy, which only helps while it runs: the listing says when it does not. */
const throughProxy = (tool: ToolStatus): ToolStatus =>
  tool.state === "connected" && liveness(stateDir(), "proxy").kind !== "running"
    ? { ...tool, detail: "the proxy is not running: isartor up starts it, or isartor proxy" }
    : tool

/** `isartor connect --list` / `isartor connect status`: which tools go through the gateway, from their own files. */
export const status = async (options: GatewayOptions & { readonly json?: boolean }): Promise<number> => {
  const gateway = await resolveGateway(options)
  const { configuredPort } = await import("../proxy/proxy.ts")
  const proxyUrl = `http://127.0.0.1:${await configuredPort(undefined).catch(() => 8081)}`
  const projectStatus = {
    ...connectorStatus("claude", CONNECTORS.claude({ project: true }), gateway),
    tool: "claude-project"
  }
  const [claude, ...others] = (Object.keys(CONNECTORS) as Array<FileToolId>).map((id) =>
    connectorStatus(id, CONNECTORS[id]({ project: false }), gateway)
  )
  const tools = [
    claude!,
    // The project file is listed when this directory has one, or a connect of ours to undo.
    ...(projectStatus.state === "not connected" && !projectStatus.undoable && projectStatus.detail === "no such file"
      ? []
      : [projectStatus]),
    ...others,
    envStatus(gateway),
    throughProxy(fileStatus(vscodeTool("copilot", proxyUrl), gateway)),
    throughProxy(fileStatus(vscodeTool("antigravity", proxyUrl), gateway))
  ]
  if (options.json) {
    printJson({ gateway: gateway.url, tools })
    return 0
  }
  console.log(
    `gateway: ${bold(gateway.url)}${gateway.running ? "" : dim(` (from the ${gateway.source}; not running here)`)}`
  )
  const width = Math.max(...tools.map((tool) => tool.tool.length))
  for (const tool of tools) {
    const state = tool.state === "connected"
      ? green(tool.state)
      : tool.state === "elsewhere" || tool.state === "unreadable"
      ? yellow(tool.state)
      : dim(tool.state)
    const detail = tool.state !== "connected" && tool.url
      ? ` (points at ${tool.url})`
      : tool.detail
      ? ` (${tool.detail})`
      : ""
    console.log(`  ${tool.tool.padEnd(width)}  ${state}${detail}  ${dim(tool.where)}`)
  }
  return 0
}
