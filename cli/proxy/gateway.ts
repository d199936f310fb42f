import { Redacted } from "effect"
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http"
import { pipeline as pipeStreams, Readable } from "node:stream"
import { type Gateway, type GatewayOptions, startGateway } from "../../core/Gateway.ts"
import { presentedCredentials, withQueryKey } from "../../core/http/middleware.ts"
import { MAX_ERROR_BODY_BYTES, readBounded } from "../../core/transport/http.ts"
import { readTextFile } from "../../runtimes/shared.ts"
import { HOP_BY_HOP, type HostRequest, type Origin, passable, sendToHost } from "./hostRequest.ts"
import { type GatewayAsk, gatewayAsk, mapGeminiAnswer, unwrapCloudCode, wireOf, wrapCloudCode } from "./wire.ts"

export type { Origin } from "./hostRequest.ts"

/** A chat request the gateway can answer; everything else goes to the host unread. */
export const isChatRequest = (method: string | undefined, url: string | undefined) => wireOf(method, url) !== undefined

/**
 * What differs from `isartor up`'s configuration: no provider is ever asked (each request's L3 is its own host),
 * and no gateway key is checked (the tool's credential is the host's; the proxy listens on loopback only).
 */
const PROXY_SETTINGS = {
  ISARTOR__LLM_PROVIDER: "openai-compatible",
  ISARTOR__EXTERNAL_LLM_URL: "http://127.0.0.1:9/v1",
  ISARTOR__EXTERNAL_LLM_API_KEY: "",
  ISARTOR__FALLBACK_PROVIDERS: "",
  ISARTOR__GATEWAY_API_KEY: "",
  ISARTOR__GATEWAY_KEYS: "",
  ISARTOR__ENABLE_MONITORING: "false"
}

/** A refusal the gateway made without asking the host (a shape or a directive it does not take): the host's to judge. */
const REFUSED_UNASKED = new Set([400, 403, 413])

/** The headers a request is asked of the gateway with: the client's, and the scope of what else it depends on. */
const headersFor = (headers: IncomingHttpHeaders, ask: GatewayAsk) => {
  const out = new Headers()
  for (const [name, value] of Object.entries(passable(headers))) {
    for (const one of Array.isArray(value) ? value : [value]) out.append(name, one)
  }
  if (ask.scope !== undefined) {
    const session = out.get("x-isartor-session-id")
    out.set("x-isartor-session-id", session === null ? ask.scope : `${session}|${ask.scope}`)
  }
  return out
}

/**
 * The origin handed to the gateway with a request: the client's credential, and its request sent on to the host
 * as it came. The host's refusal is kept as it was sent, for the client to get that rather than its translation.
 */
export const originFor = (
  request: HostRequest,
  headers: Headers,
  ask: Pick<GatewayAsk, "wrapped">,
  send: (request: HostRequest) => Promise<Response>
) => {
  // Every credential the client sent (Gemini's `?key=` too), as the gateway reads them for the cache scope; one
  // per line there (a header value has no line break), each scrubbed on its own here.
  const presented = presentedCredentials(withQueryKey(new Request(`http://isartor-proxy${request.path}`, { headers })))
  const state: { asked: boolean; refusal?: Response } = { asked: false }
  const origin = {
    host: request.host,
    credentials: presented.split("\n").map((credential) => Redacted.make(credential)),
    send: async () => {
      state.asked = true
      const response = await send(request)
      if (response.ok) return ask.wrapped ? mapGeminiAnswer(response, unwrapCloudCode) : response
      const body = await readBounded(response.body, MAX_ERROR_BODY_BYTES, "truncate").catch(() => "")
      state.refusal = new Response(body, { status: response.status, headers: response.headers })
      return new Response(null, { status: response.status })
    }
  }
  return { origin, state }
}

/**
 * The gateway `isartor up` runs, in the proxy's process, configured as it is (its caches, router, ledger, Redis)
 * but for PROXY_SETTINGS: each chat request the proxy reads is answered by it — from the caches, the router, or
 * the original host asked with the client's own request and credential — and recorded like any other.
 */
export const startProxyGateway = async (options: {
  readonly env: Record<string, string | undefined>
  readonly upstreamCa?: string | ReadonlyArray<string> | undefined
  readonly gateway?: GatewayOptions
}) => {
  const gateway = await startGateway({ env: { ...options.env, ...PROXY_SETTINGS }, readTextFile }, options.gateway)
  const timeoutMs = gateway.config.l3_timeout_secs * 1000
  const send = (request: HostRequest) => sendToHost(request, options.upstreamCa, timeoutMs)

  /**
   * Answers one intercepted chat request; undefined when the gateway does not take it (another shape, a directive
   * it refuses), and the host gets it as it was.
   */
  const answer = async (request: IncomingMessage, body: Buffer, where: Origin): Promise<Response | undefined> => {
    const url = request.url ?? "/"
    const wire = wireOf(request.method, url)
    const ask = wire && gatewayAsk(wire, url, body.toString("utf8"))
    if (ask === undefined) return undefined
    const headers = headersFor(request.headers, ask)
    const hostRequest = { ...where, path: url, headers: request.headers, body }
    const asked = new Request(`http://isartor-proxy${ask.path}`, { method: "POST", headers, body: ask.body })
    const { origin, state } = originFor(hostRequest, headers, ask, send)
    const response = await gateway.passThrough(asked, origin)
    // The host's refusal (an expired token's 401, a 429 with its Retry-After) reaches the tool as the host sent it,
    // so the tool reacts as it would without the proxy.
    if (state.refusal !== undefined || (!state.asked && REFUSED_UNASKED.has(response.status))) {
      await response.body?.cancel()
      return state.refusal
    }
    return ask.wrapped ? mapGeminiAnswer(response, wrapCloudCode) : response
  }

  return {
    answer,
    gateway,
    maxBodyBytes: gateway.config.max_body_bytes,
    close: () => gateway.dispose()
  }
}

export type ProxyGateway = Awaited<ReturnType<typeof startProxyGateway>>

/** Writes a fetch Response to a node response, streaming its body. */
export const sendResponse = (response: Response, out: ServerResponse) => {
  const headers: Record<string, string> = {}
  response.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers[name] = value
  })
  out.writeHead(response.status, headers)
  if (response.body === null) return void out.end()
  // pipeline, not pipe: a client that leaves mid-stream cancels the answer (and the host's stream under it) at once.
  pipeStreams(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), out, () => {})
}

export type { Gateway }
