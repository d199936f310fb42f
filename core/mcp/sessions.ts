import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js"
import { LRUCache } from "lru-cache"
import type { RequestContext } from "../domain/ChatRequest.ts"
import type { GatewayTools } from "./gatewayTools.ts"
import { makeMcpServer, scopeExtra } from "./server.ts"

/** Sessions kept at once: past it, the least recently used is closed (its client re-initialises on the 404). */
const MAX_SESSIONS = 1000
/** A session unused this long is closed the same way (`isartor mcp` opens a new one by itself). */
const IDLE_MS = 60 * 60 * 1000

interface Session {
  readonly transport: WebStandardStreamableHTTPServerTransport
  readonly close: () => Promise<void>
  /** The caller that opened it (its credential's hash): no other caller reaches it. */
  readonly caller: string
}

/** One MCP request: the HTTP request, its body already read (POST), and the caller's scope. */
export interface McpExchange {
  readonly request: Request
  readonly body: string | undefined
  readonly context: RequestContext
}

/** JSON-RPC's error envelope, as the SDK's transport answers its own refusals. */
const rpcError = (status: number, code: number, message: string) =>
  Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status })

const callerOf = (context: RequestContext) => context.tenant.slice(0, context.tenant.indexOf("|"))

const opensSession = (body: unknown) =>
  Array.isArray(body) ? body.some((message) => isInitializeRequest(message)) : isInitializeRequest(body)

/**
 * MCP's Streamable HTTP transport with sessions: an `initialize` without a session opens one (a server and its
 * transport, answering JSON), every later request names it in `Mcp-Session-Id`, `DELETE` ends it.
 */
export const makeMcpSessions = (tools: GatewayTools, version: string) => {
  const sessions = new LRUCache<string, Session>({
    max: MAX_SESSIONS,
    ttl: IDLE_MS,
    updateAgeOnGet: true,
    // Closed when its time is up, not when next asked for: an idle client may never ask again.
    ttlAutopurge: true,
    // Evicted or expired: closed here. Ended by DELETE: the transport closes itself.
    dispose: (session, _id, reason) => {
      if (reason === "evict" || reason === "expire") void session.close()
    }
  })

  const open = async (exchange: McpExchange, parsed: unknown): Promise<Response> => {
    const server = makeMcpServer(tools, version)
    const caller = callerOf(exchange.context)
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      // Every tool answers at once: a JSON answer, no stream to hold open per call.
      enableJsonResponse: true,
      onsessioninitialized: (id) => void sessions.set(id, { transport, caller, close: () => server.close() }),
      onsessionclosed: (id) => void sessions.delete(id)
    })
    await server.connect(transport)
    return transport.handleRequest(exchange.request, {
      parsedBody: parsed,
      authInfo: { token: "", clientId: caller, scopes: [], extra: scopeExtra(exchange.context) }
    })
  }

  return {
    handle: async (exchange: McpExchange): Promise<Response> => {
      let parsed: unknown
      if (exchange.body !== undefined) {
        try {
          parsed = JSON.parse(exchange.body) as JSONRPCMessage
        } catch {
          return rpcError(400, -32700, "Parse error: the body is not JSON")
        }
      }
      const id = exchange.request.headers.get("mcp-session-id")
      if (id === null) {
        return exchange.request.method === "POST" && opensSession(parsed)
          ? open(exchange, parsed)
          : rpcError(400, -32000, "Bad Request: no Mcp-Session-Id; send initialize first")
      }
      const session = sessions.get(id)
      if (session === undefined || session.caller !== callerOf(exchange.context)) {
        return rpcError(404, -32001, "Session not found")
      }
      return session.transport.handleRequest(exchange.request, {
        parsedBody: parsed,
        authInfo: { token: "", clientId: session.caller, scopes: [], extra: scopeExtra(exchange.context) }
      })
    }
  }
}

export type McpSessions = ReturnType<typeof makeMcpSessions>
