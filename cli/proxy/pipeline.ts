import { Context, Effect, Exit, Layer, Logger, ManagedRuntime, Metric, Redacted } from "effect"
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http"
import { pipeline as pipeStreams, Readable } from "node:stream"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import { AppConfig } from "../../core/config/Config.ts"
import { gatewayFromSources, type GatewayOptions } from "../../core/Gateway.ts"
import { readCacheDirectives } from "../../core/http/cacheControl.ts"
import { renderAnswer, renderFailure, renderGemini } from "../../core/http/render.ts"
import { Pipeline } from "../../core/pipeline/Pipeline.ts"
import { Upstream } from "../../core/pipeline/Upstream.ts"
import { Provider } from "../../core/providers/Provider.ts"
import { transportLimits } from "../../core/transport/http.ts"
import { readTextFile } from "../../runtimes/shared.ts"
import { CurrentExchange, type Exchange, HOP_BY_HOP, type Origin, passThroughProvider } from "./passThrough.ts"
import { decodeRequest, wireOf } from "./wire.ts"

export type { Origin } from "./passThrough.ts"

/** A chat request the pipeline can answer; everything else goes to the host unread. */
export const isChatRequest = (method: string | undefined, url: string | undefined) => wireOf(method, url) !== undefined

/** The headers provider SDKs send a key in (as the gateway reads them), and Gemini's `?key=`. */
const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "api-key", "x-goog-api-key", "ocp-apim-subscription-key"]

/** Every credential the client sent, as one string: hashed into the cache scope, as for the gateway's callers. */
const credentialOf = (headers: IncomingHttpHeaders, url: string): string => {
  const found = new Set<string>()
  for (const name of CREDENTIAL_HEADERS) {
    const raw = headers[name]
    const value = (Array.isArray(raw) ? raw.join(", ") : raw)?.trim()
    if (!value) continue
    found.add(name === "authorization" && /^bearer[ \t]/i.test(value) ? value.slice(7).trim() : value)
  }
  const key = new URLSearchParams(url.split("?", 2)[1] ?? "").get("key")
  if (key) found.add(key)
  return [...found].sort().join("\n")
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name]
  return Array.isArray(value) ? value.join(", ") : value
}

/** Effect's warnings (a dropped cache write, Redis unreachable) as the proxy's log lines. */
const warningsTo = (log: (line: string) => void) =>
  Logger.layer([
    Logger.make(({ logLevel, message }) => {
      if (logLevel !== "Warn" && logLevel !== "Error" && logLevel !== "Fatal") return
      log((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
  ])

/**
 * Chat requests the proxy intercepted, answered by the gateway's pipeline in this process (L1a → L1b → L2 as
 * configured) whose L3 is the original host, asked with the client's own request and credentials. The caches are
 * the gateway's (its configuration, its Redis when `cache_backend = redis`); the scope is a hash of the client's
 * credential, as for direct callers, so two accounts never share an answer.
 */
export const startChatPipeline = async (options: {
  readonly env: Record<string, string | undefined>
  readonly upstreamCa?: string | ReadonlyArray<string> | undefined
  readonly gateway?: GatewayOptions
  readonly log?: (line: string) => void
}) => {
  const log = options.log ?? (() => {})
  const sources = {
    env: {
      ...options.env,
      // The gateway's own provider is never asked (the proxy's L3 is the original host): no key is needed for it.
      ISARTOR__LLM_PROVIDER: "openai-compatible",
      ISARTOR__EXTERNAL_LLM_URL: "http://127.0.0.1:9/v1",
      ISARTOR__EXTERNAL_LLM_API_KEY: "",
      ISARTOR__FALLBACK_PROVIDERS: "",
      ISARTOR__ENABLE_MONITORING: "false"
    },
    readTextFile
  }
  const gateway = ManagedRuntime.make(
    gatewayFromSources(sources, options.gateway).pipe(
      Layer.provideMerge(Layer.succeed(Metric.MetricRegistry, new Map())),
      Layer.provideMerge(warningsTo(log))
    )
  )
  const base = await gateway.context().catch(async (error: unknown) => {
    await gateway.dispose()
    throw error
  })
  const config = Context.get(base, AppConfig)
  const provider = passThroughProvider({ upstreamCa: options.upstreamCa, limits: transportLimits(config) })
  // The gateway's pipeline again, on the same caches, router and coalescer, with the original host as its L3.
  const proxied = ManagedRuntime.make(
    Pipeline.layer.pipe(
      Layer.provide(Upstream.layer),
      Layer.provide(Layer.succeedContext(Context.add(base, Provider, provider)))
    )
  )
  const context = Context.merge(base, await proxied.context())
  const pipeline = Context.get(context, Pipeline)
  const hashSecret = Context.get(base, CacheKey).hashSecret
  const run = Effect.runPromiseExitWith(context)
  const allowed = new Set(config.cache_controls_allowed)

  /**
   * Answers one intercepted chat request: from the caches, the router, or the original host; undefined when it is
   * not one the caches take (another shape, a directive the gateway refuses), and the host gets it as it was.
   */
  const answer = async (request: IncomingMessage, body: Buffer, origin: Origin): Promise<Response | undefined> => {
    const url = request.url ?? "/"
    const wire = wireOf(request.method, url)
    if (wire === undefined) return undefined
    const directives = readCacheDirectives(
      header(request.headers, "cache-control"),
      header(request.headers, "x-isartor-cache-ttl"),
      allowed
    )
    if (directives.refused) return undefined
    const credential = credentialOf(request.headers, url)
    const decoded = decodeRequest(wire, body.toString("utf8"), request.headers, {
      defaultModel: config.external_llm_model,
      tenant: `${hashSecret(credential)}|${header(request.headers, "x-isartor-session-id") ?? ""}`,
      ...directives
    })
    if (decoded === undefined || Exit.isFailure(decoded)) return undefined
    const chat = decoded.value
    const exchange: Exchange = {
      ...origin,
      wire: wire.wire,
      path: url,
      headers: request.headers,
      body,
      credential: Redacted.make(credential)
    }
    const exit = await run(pipeline.handle(chat).pipe(Effect.provideService(CurrentExchange, exchange)))
    const gemini = wire.wire === "gemini" || wire.wire === "cloudcode"
    const wrap = wire.wire === "cloudcode"
      ? (response: Record<string, unknown>) => ({ response })
      : (response: Record<string, unknown>) => response
    if (Exit.isSuccess(exit)) {
      const now = Date.now()
      return gemini ? renderGemini(exit.value, chat.stream, now, wrap) : renderAnswer(chat, exit.value, now)
    }
    // The host's refusal (an expired token's 401, a 429 with its Retry-After) reaches the tool as the host sent it,
    // so the tool reacts as it would without the proxy.
    const refusal = exchange.refusal
    if (refusal !== undefined) {
      return new Response(new Uint8Array(refusal.body), { status: refusal.status, headers: refusal.headers })
    }
    return renderFailure(gemini ? "gemini" : chat.family, exit.cause)
  }

  return {
    answer,
    maxBodyBytes: config.max_body_bytes,
    close: async () => {
      await proxied.dispose()
      await gateway.dispose()
    }
  }
}

export type ChatPipeline = Awaited<ReturnType<typeof startChatPipeline>>

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
