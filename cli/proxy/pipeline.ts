import { randomBytes } from "node:crypto"
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import type { AddressInfo } from "node:net"
import { pipeline, Readable } from "node:stream"
import { type GatewayOptions, startGateway } from "../../core/Gateway.ts"
import { readTextFile } from "../../runtimes/shared.ts"

/** Where an intercepted request was going: the original host, and where it really is (tests resolve names). */
export interface Origin {
  readonly host: string
  readonly port: number
  readonly connectHost: string
  readonly connectPort: number
}

interface Ticket {
  readonly origin: Origin
  readonly path: string
  readonly headers: IncomingHttpHeaders
  /** Whether the gateway asked the host (through the relay) at all. */
  relayed?: boolean
  /** The host's last refusal, as it sent it: the client gets that, not the gateway's translation of it. */
  refusal?: { readonly status: number; readonly headers: Record<string, string>; readonly body: Buffer }
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length"
])

const TICKET_HEADER = "openai-project"
const TICKET_PREFIX = "isartor-proxy-"

const passable = (headers: IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())))

/** A chat-completion request, which the pipeline can answer; everything else goes to the host unread. */
export const isChatRequest = (method: string | undefined, path: string | undefined) =>
  method === "POST" && /\/chat\/completions$/.test((path ?? "").split("?")[0]!)

/**
 * Chat requests the proxy intercepted, answered by an in-process gateway (L1a → L1b → L2 as configured); what it
 * cannot answer goes to the original host with the client's own headers and credentials — no provider key. The
 * gateway's L3 is a loopback relay: each request carries a one-use ticket in `OpenAI-Project` (a header the
 * gateway passes to an OpenAI-compatible upstream and leaves out of its cache key), which names the client's
 * original host, path and headers; the client's credential scopes the cache, as for direct callers.
 */
export const startChatPipeline = async (options: {
  readonly env: Record<string, string | undefined>
  readonly upstreamCa?: string | ReadonlyArray<string> | undefined
  readonly gateway?: GatewayOptions
  readonly log?: (line: string) => void
}) => {
  const tickets = new Map<string, Ticket>()
  const log = options.log ?? (() => {})
  const relay = createServer((request, response) => {
    const ticketId = String(request.headers[TICKET_HEADER] ?? "")
    const ticket = tickets.get(ticketId)
    if (!ticket) {
      response.writeHead(502, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: { message: "isartor proxy: unknown relay ticket" } }))
      return
    }
    ticket.relayed = true
    const upstream = httpsRequest({
      host: ticket.origin.connectHost,
      port: ticket.origin.connectPort,
      servername: ticket.origin.host,
      method: "POST",
      path: ticket.path,
      headers: { ...passable(ticket.headers), host: ticket.origin.host },
      ...(options.upstreamCa === undefined ? {} : { ca: options.upstreamCa as string | Array<string> })
    }, (answer) => {
      const status = answer.statusCode ?? 502
      const headers = passable(answer.headers)
      if (status >= 400) {
        const chunks: Array<Buffer> = []
        answer.on("data", (chunk: Buffer) => chunks.push(chunk))
        answer.on("end", () => {
          const body = Buffer.concat(chunks)
          ticket.refusal = {
            status,
            headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)])),
            body
          }
          response.writeHead(status, headers)
          response.end(body)
        })
        return
      }
      response.writeHead(status, headers)
      answer.pipe(response)
    })
    upstream.on("error", (error) => {
      log(`${ticket.origin.host}: ${error.message}`)
      if (!response.headersSent) response.writeHead(502, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: { message: `isartor proxy: ${ticket.origin.host}: ${error.message}` } }))
    })
    request.pipe(upstream)
  })
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve))
  const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/v1`
  const gateway = await startGateway({
    env: {
      ...options.env,
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__LLM_PROVIDER: "openai-compatible",
      ISARTOR__EXTERNAL_LLM_URL: relayUrl,
      ISARTOR__EXTERNAL_LLM_API_KEY: "",
      ISARTOR__FALLBACK_PROVIDERS: "",
      ISARTOR__GATEWAY_API_KEY: "",
      ISARTOR__ADMIN_API_KEY: "",
      ISARTOR__METRICS_PORT: "0",
      ISARTOR__ENABLE_MONITORING: "false"
    },
    readTextFile
  }, options.gateway)

  /**
   * Answers one intercepted chat request: from the caches, the router, or the original host; undefined when the
   * gateway refused it without asking the host, which then gets the request as it was.
   */
  const answer = async (request: IncomingMessage, body: Buffer, origin: Origin): Promise<Response | undefined> => {
    const ticketId = `${TICKET_PREFIX}${randomBytes(16).toString("hex")}`
    tickets.set(ticketId, { origin, path: request.url ?? "/", headers: request.headers })
    const headers = new Headers()
    for (const [name, value] of Object.entries(passable(request.headers))) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value)
    }
    headers.set(TICKET_HEADER, ticketId)
    const response = await gateway.fetch(
      new Request("http://isartor.proxy/v1/chat/completions", { method: "POST", headers, body: new Uint8Array(body) })
    )
    // The ticket lives until the answer has been read: a streamed answer is still being relayed until then.
    const release = () => tickets.delete(ticketId)
    // A refusal of the host's (an expired token's 401, a 429 with its Retry-After) reaches the tool as the host
    // sent it, so the tool reacts as it would without the proxy: the gateway would report it as its own 502.
    const ticket = tickets.get(ticketId)
    if (!response.ok && ticket?.relayed !== true) {
      // Refused by the gateway itself (a request shape it does not take): undefined, and the host gets it as it was.
      release()
      await response.body?.cancel()
      return undefined
    }
    const refusal = ticket?.refusal
    if (refusal !== undefined && response.status >= 400) {
      release()
      await response.body?.cancel()
      return new Response(new Uint8Array(refusal.body), { status: refusal.status, headers: refusal.headers })
    }
    if (response.body === null) {
      release()
      return response
    }
    const reader = response.body.getReader()
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const { done, value } = await reader.read()
        if (done) {
          release()
          controller.close()
        } else controller.enqueue(value)
      },
      cancel: (reason) => {
        release()
        return reader.cancel(reason)
      }
    })
    return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers })
  }

  return {
    answer,
    close: async () => {
      await gateway.dispose()
      await new Promise<void>((resolve) => relay.close(() => resolve()))
    }
  }
}

export type ChatPipeline = Awaited<ReturnType<typeof startChatPipeline>>

/** Writes a fetch Response to a node response, streaming its body. */
export const sendResponse = async (
  response: Response,
  out: import("node:http").ServerResponse
) => {
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers[name] = value
  })
  out.writeHead(response.status, headers)
  if (response.body === null) return void out.end()
  // pipeline, not pipe: a client that leaves mid-stream cancels the answer (and releases its ticket) at once.
  pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), out, () => {})
}
