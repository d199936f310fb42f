import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"
import { z } from "zod"
import type { RequestContext } from "../domain/ChatRequest.ts"
import type { GatewayTools } from "./gatewayTools.ts"

/** Bounds on what an agent sends, so a tool call cannot hold more than a chat request could. */
const MAX_PROMPT_CHARS = 200_000

const question = {
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS).describe("the user's question, as it would be sent to the model"),
  system: z.string().max(MAX_PROMPT_CHARS).optional().describe("the system prompt it is asked with, if any"),
  model: z.string().max(200).optional().describe("the model it is asked of (default: the gateway's default model)")
}

const INSTRUCTIONS = "Isartor is an LLM gateway with an exact and a semantic cache. Before answering a question that " +
  "may have been answered before, call cache_lookup with it; after answering one worth reusing, call cache_store. " +
  "Entries are shared with requests the gateway answers on /v1/chat/completions for the same caller."

/** A tool call's request scope, which the HTTP edge hands the transport with each request (see core/http/mcp.ts). */
export interface ScopeCarrier {
  readonly authInfo?: { readonly extra?: Record<string, unknown> | undefined } | undefined
}

export const scopeExtra = (context: RequestContext) => ({ context })
const contextOf = (extra: ScopeCarrier): RequestContext | undefined =>
  extra.authInfo?.extra?.context as RequestContext | undefined

const result = (text: string, structured: Record<string, unknown>): CallToolResult => ({
  content: [{ type: "text", text }],
  structuredContent: structured
})
const noScope: CallToolResult = {
  content: [{ type: "text", text: "this request carries no caller scope" }],
  isError: true
}

/** One MCP server (one per session): the gateway's tools over the given `GatewayTools`. */
export const makeMcpServer = (tools: GatewayTools, version: string): McpServer => {
  const server = new McpServer({ name: "isartor", version }, { instructions: INSTRUCTIONS })

  server.registerTool("cache_lookup", {
    title: "Look an answer up in Isartor's caches",
    description: "Finds a cached answer to a question: the exact cache first, then the semantic cache (a paraphrase " +
      "of a question answered before). Never asks a model. Returns found=false when neither has one.",
    inputSchema: question,
    outputSchema: {
      found: z.boolean(),
      answer: z.string().optional(),
      layer: z.string().optional().describe("l1a: exact cache; l1b: semantic cache"),
      model: z.string(),
      cache_key: z.string().optional(),
      similarity: z.number().optional(),
      reason: z.string().optional()
    },
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async (args, extra) => {
    const context = contextOf(extra)
    if (context === undefined) return noScope
    const found = await tools.lookup(args, context)
    return result(found.found ? found.answer : `not cached: ${found.reason}`, found)
  })

  server.registerTool("cache_store", {
    title: "Store an answer in Isartor's caches",
    description: "Keeps an answer to a question in the exact and semantic caches, as the gateway keeps a model's " +
      "answer: the same question (or a paraphrase) from this caller is then answered from the cache, here and on " +
      "/v1/chat/completions.",
    inputSchema: { ...question, answer: z.string().min(1).max(MAX_PROMPT_CHARS).describe("the answer to keep") },
    outputSchema: {
      stored: z.boolean(),
      model: z.string(),
      cache_key: z.string().optional(),
      reason: z.string().optional()
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false }
  }, async (args, extra) => {
    const context = contextOf(extra)
    if (context === undefined) return noScope
    const stored = await tools.store(args, context)
    return result(stored.stored ? `stored as ${stored.cache_key}` : `not stored: ${stored.reason}`, stored)
  })

  server.registerTool("gateway_status", {
    title: "Isartor's status and savings",
    description: "The gateway's health (each layer, each provider) and today's totals (UTC) from its usage ledger: " +
      "requests, tokens and cost spent and saved, and the share answered without a cloud provider.",
    annotations: { readOnlyHint: true, openWorldHint: false }
  }, async () => {
    const status = await tools.status()
    return result(JSON.stringify(status, null, 2), { ...status })
  })

  return server
}
