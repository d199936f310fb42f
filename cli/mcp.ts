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

const noGateway = (url: string, why: string) =>
  `no gateway is running at ${url} (${why}): start one with \`isartor up -d\`, or pass --url (or ISARTOR_URL)`

/** Fails with what to do when no gateway answers at `url`. */
const reachable = async (url: string) => {
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) })
  } catch (error) {
    throw new CliFailure(noGateway(url, messageOf(error instanceof Error && error.cause ? error.cause : error)))
  }
}

/** The bridge's link to the gateway: the transport now in use, and what reopening a session needs. */
interface Session {
  upstream: StreamableHTTPClientTransport
  /** The client's `initialize`, kept to open a new session when the gateway forgot this one (restarted, idle). */
  initialize: JSONRPCRequest | undefined
  /** Answers to the bridge's own `initialize` of a new session: not the client's to see. */
  readonly own: Map<string, (message: JSONRPCMessage) => void>
  reopening: Promise<void> | undefined
  readonly connect: () => StreamableHTTPClientTransport
  readonly local: StdioServerTransport
}

/** The gateway's messages to the client, but for answers the bridge itself awaits. */
const relay = (session: Session, transport: StreamableHTTPClientTransport) => {
  transport.onmessage = (message) => {
    const id = "id" in message ? String(message.id) : undefined
    const waiting = id === undefined ? undefined : session.own.get(id)
    // Later requests name the protocol version the gateway agreed to, as the SDK's own client does.
    const result = "result" in message ? message.result as { protocolVersion?: unknown } : undefined
    if (typeof result?.protocolVersion === "string") transport.setProtocolVersion(result.protocolVersion)
    if (waiting !== undefined) return waiting(message)
    void session.local.send(message)
  }
  transport.onerror = (error) => note(messageOf(error))
}

/** A new session at the gateway, opened with the client's own `initialize`; one at a time. */
const reopen = (session: Session, stale: StreamableHTTPClientTransport) =>
  session.reopening ??= (async () => {
    await stale.close().catch(() => undefined)
    const fresh = session.connect()
    relay(session, fresh)
    await fresh.start()
    const id = `isartor-reopen-${crypto.randomUUID()}`
    const answered = new Promise<JSONRPCMessage>((resolve) => session.own.set(id, resolve))
    await fresh.send({ ...session.initialize!, id })
    const answer = await answered
    session.own.delete(id)
    if ("error" in answer) throw new Error(answer.error.message)
    await fresh.send({ jsonrpc: "2.0", method: "notifications/initialized" })
    session.upstream = fresh
    note("the gateway had ended the session: a new one is open")
  })().finally(() => (session.reopening = undefined))

/** A client message to the gateway; a session the gateway forgot is opened again, once. */
const forward = async (session: Session, message: JSONRPCMessage) => {
  if (isInitializeRequest(message)) session.initialize = message as JSONRPCRequest
  await session.reopening
  const via = session.upstream
  try {
    await via.send(message)
  } catch (error) {
    // 404: the gateway no longer knows the session (restarted, or it went unused too long).
    if (
      (error as { code?: unknown }).code !== 404 || session.initialize === undefined || isInitializeRequest(message)
    ) {
      throw error
    }
    await reopen(session, via)
    await session.upstream.send(message)
  }
}

/** A request the gateway could not be asked: its caller gets a JSON-RPC error that says why, not silence. */
const failed = (session: Session, url: string, message: JSONRPCMessage, error: unknown) => {
  const why = messageOf(error)
  const text = /fetch failed|ECONNREFUSED/.test(why)
    ? noGateway(url, why)
    : (error as { code?: unknown }).code === 401
    ? `the gateway refused the key (${why}): set ${CONNECTED_KEY_VAR} (or ISARTOR__GATEWAY_API_KEY) to its key`
    : why
  note(text)
  if (isJSONRPCRequest(message)) {
    void session.local.send({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: text } })
  }
}

/** Until the client closes stdin, which it does when it is done with the server. */
const stdinClosed = () =>
  new Promise<void>((resolve) => {
    process.stdin.once("end", resolve)
    process.stdin.once("close", resolve)
  })

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
  await reachable(gateway.url)
  const connect = () =>
    new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), {
      requestInit: { headers: gateway.key === "" ? {} : { authorization: `Bearer ${gateway.key}` } }
    })
  const local = new StdioServerTransport()
  const session: Session = {
    upstream: connect(),
    initialize: undefined,
    own: new Map(),
    reopening: undefined,
    connect,
    local
  }
  relay(session, session.upstream)
  local.onmessage = (message) =>
    void forward(session, message).catch((error: unknown) => failed(session, gateway.url, message, error))
  local.onerror = (error) => note(messageOf(error))

  await session.upstream.start()
  await local.start()
  await stdinClosed()
  // The session at the gateway ends with the client's.
  await session.upstream.terminateSession().catch(() => undefined)
  await session.upstream.close()
  await local.close()
  return 0
}
