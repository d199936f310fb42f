import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import {
  isInitializeRequest,
  isJSONRPCRequest,
  type JSONRPCMessage,
  type JSONRPCRequest
} from "@modelcontextprotocol/sdk/types.js"
import { resolveGateway } from "./connect/gateway.ts"
import { CliFailure } from "./output.ts"

export interface McpOptions {
  readonly url?: string
  readonly key?: string
}

/** What `isartor connect claude-desktop | cursor` writes into the MCP entry's environment for the key. */
const CONNECTED_KEY_VAR = "ISARTOR_API_KEY"

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** A line on stderr, which an MCP client keeps in its server log: stdout carries only MCP messages. */
const note = (line: string) => void process.stderr.write(`isartor mcp: ${line}\n`)

/**
 * `isartor mcp`: the gateway's MCP server (`/mcp`) for a client that starts its servers as commands (Claude Desktop,
 * Cursor). Messages pass between stdio and the running gateway's Streamable HTTP endpoint as they are, so both
 * transports serve the one server; the gateway key goes with each request.
 */
export const mcp = async (options: McpOptions): Promise<number> => {
  const key = options.key ?? process.env[CONNECTED_KEY_VAR]
  const gateway = await resolveGateway({
    ...(options.url === undefined ? {} : { url: options.url }),
    ...(key === undefined ? {} : { key })
  })
  const noGateway = (why: string) =>
    `no gateway is running at ${gateway.url} (${why}): start one with \`isartor up -d\`, or pass --url (or ISARTOR_URL)`
  try {
    await fetch(`${gateway.url}/healthz`, { signal: AbortSignal.timeout(5000) })
  } catch (error) {
    throw new CliFailure(noGateway(messageOf(error instanceof Error && error.cause ? error.cause : error)))
  }

  const local = new StdioServerTransport()
  const connect = () =>
    new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), {
      requestInit: { headers: gateway.key === "" ? {} : { authorization: `Bearer ${gateway.key}` } }
    })
  let upstream = connect()
  /** The client's `initialize`, kept to open a new session when the gateway forgot this one (restarted, idle). */
  let initialize: JSONRPCRequest | undefined
  /** Answers to the bridge's own `initialize` of a new session: not the client's to see. */
  const own = new Map<string, (message: JSONRPCMessage) => void>()

  const relay = (transport: StreamableHTTPClientTransport) => {
    transport.onmessage = (message) => {
      const id = "id" in message ? String(message.id) : undefined
      const waiting = id === undefined ? undefined : own.get(id)
      // Later requests name the protocol version the gateway agreed to, as the SDK's own client does.
      const result = "result" in message ? message.result as { protocolVersion?: unknown } : undefined
      if (typeof result?.protocolVersion === "string") transport.setProtocolVersion(result.protocolVersion)
      if (waiting !== undefined) return waiting(message)
      void local.send(message)
    }
    transport.onerror = (error) => note(messageOf(error))
  }
  relay(upstream)

  let reopening: Promise<void> | undefined
  const reopen = (stale: StreamableHTTPClientTransport) =>
    reopening ??= (async () => {
      await stale.close().catch(() => undefined)
      const fresh = connect()
      relay(fresh)
      await fresh.start()
      const id = `isartor-reopen-${crypto.randomUUID()}`
      const answered = new Promise<JSONRPCMessage>((resolve) => own.set(id, resolve))
      await fresh.send({ ...initialize!, id })
      const answer = await answered
      own.delete(id)
      if ("error" in answer) throw new Error(answer.error.message)
      await fresh.send({ jsonrpc: "2.0", method: "notifications/initialized" })
      upstream = fresh
      note("the gateway had ended the session: a new one is open")
    })().finally(() => (reopening = undefined))

  /** A request the gateway could not be asked: its caller gets a JSON-RPC error that says why, not silence. */
  const failed = (message: JSONRPCMessage, error: unknown) => {
    const why = messageOf(error)
    const text = /fetch failed|ECONNREFUSED/.test(why)
      ? noGateway(why)
      : (error as { code?: unknown }).code === 401
      ? `the gateway refused the key (${why}): set ${CONNECTED_KEY_VAR} (or ISARTOR__GATEWAY_API_KEY) to its key`
      : why
    note(text)
    if (isJSONRPCRequest(message)) {
      void local.send({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: text } })
    }
  }
  const forward = async (message: JSONRPCMessage) => {
    if (isInitializeRequest(message)) initialize = message as JSONRPCRequest
    await reopening
    const via = upstream
    try {
      await via.send(message)
    } catch (error) {
      // 404: the gateway no longer knows the session (restarted, or it went unused too long). Opened again, once.
      if ((error as { code?: unknown }).code !== 404 || initialize === undefined || isInitializeRequest(message)) {
        throw error
      }
      await reopen(via)
      await upstream.send(message)
    }
  }
  local.onmessage = (message) => void forward(message).catch((error: unknown) => failed(message, error))
  local.onerror = (error) => note(messageOf(error))

  await upstream.start()
  await local.start()
  // The client closes stdin when it is done with the server: the session at the gateway ends too.
  await new Promise<void>((resolve) => {
    process.stdin.once("end", resolve)
    process.stdin.once("close", resolve)
  })
  await upstream.terminateSession().catch(() => undefined)
  await upstream.close()
  await local.close()
  return 0
}
