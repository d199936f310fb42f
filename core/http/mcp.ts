import type { Context as HonoContext, Hono } from "hono"
import type { RequestContext } from "../domain/ChatRequest.ts"
import type { GatewayTools } from "../mcp/gatewayTools.ts"
import type { McpSessions } from "../mcp/sessions.ts"
import type { bodyReader } from "./middleware.ts"

export interface McpRouteDependencies {
  readonly tools: GatewayTools
  readonly version: string
  readonly readBody: ReturnType<typeof bodyReader>
  /** The caller's cache scope, as the chat routes compute it for the same headers. */
  readonly requestContext: (c: HonoContext) => RequestContext
}

/**
 * `POST`, `GET` and `DELETE /mcp`: the gateway's MCP server over Streamable HTTP, behind the gateway key like every
 * route registered after its check. The SDK is loaded by the first MCP request: a gateway nobody asks over MCP
 * never carries it.
 */
export const mcpRoutes = (app: Hono, deps: McpRouteDependencies): void => {
  let sessions: Promise<McpSessions> | undefined
  const loaded = () =>
    sessions ??= import("../mcp/sessions.ts").then(({ makeMcpSessions }) => makeMcpSessions(deps.tools, deps.version))
  app.on(["POST", "GET", "DELETE"], "/mcp", async (c) => {
    let body: string | undefined
    if (c.req.method === "POST") {
      const read = await deps.readBody(c, "openai")
      if (read instanceof Response) return read
      body = read.text
    }
    return (await loaded()).handle({ request: c.req.raw, body, context: deps.requestContext(c) })
  })
}
