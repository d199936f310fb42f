import { type Context, Effect, Exit, Redacted } from "effect"
import { Hono } from "hono"
import type { Context as HonoContext } from "hono"
import type { Budgets } from "../budgets/Budgets.ts"
import type { CacheAdmin } from "../cache/CacheAdmin.ts"
import type { ExactCache } from "../cache/exact/ExactCache.ts"
import type { ConfigReport } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { modelAliases } from "../config/modelAliases.ts"
import {
  answerHeaderScope,
  type EndpointFamily,
  fromNativeBody,
  fromOpenAIBody,
  parseJsonBody,
  type RequestContext,
  type RequestDecoder
} from "../domain/ChatRequest.ts"
import { checkEmbeddingsBody } from "../domain/EmbeddingsRequest.ts"
import type { ProviderError } from "../domain/errors.ts"
import { fromAnthropicBody } from "../formats/anthropic/messagesBody.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"
import { makeGatewayTools } from "../mcp/gatewayTools.ts"
import type { CacheWrites } from "../pipeline/CacheWrites.ts"
import type { Embeddings } from "../pipeline/Embeddings.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import type { ResponseStoreShape } from "../responses/ResponseStore.ts"
import { noteAnswer, noteJson, questionOf, type UsageNote } from "../usage/recorder.ts"
import type { UsageLedger } from "../usage/UsageLedger.ts"
import { adminRoutes } from "./admin.ts"
import { adminBudgetRoutes } from "./adminBudgets.ts"
import { adminProviderRoutes, providerHealth } from "./adminProviders.ts"
import { adminCacheRoutes, cacheRoutes } from "./cache.ts"
import { type CacheDirectives, readCacheDirectives } from "./cacheControl.ts"
import { dashboardRoutes } from "./dashboard/routes.ts"
import { familyError } from "./errors.ts"
import { makeExactHitLane, withoutExactHitLane } from "./exactHitLane.ts"
import type { NamedGatewayKey } from "./gatewayKeys.ts"
import { geminiRoutes, isGeminiPath } from "./gemini.ts"
import { mcpRoutes } from "./mcp.ts"
import { bodyReader, gatewayAuth, gatewayKeyCheck, presentedCredentials } from "./middleware.ts"
import { modelRoutes } from "./models.ts"
import type { EdgeFetch, Exchange } from "./observability.ts"
import { asksForUsage, pipelineHeaders, renderAnswer, renderFailure } from "./render.ts"
import { responsesRoutes } from "./responses.ts"

export interface AppDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly embeddings: Embeddings["Service"]
  /** `[budgets]`, for `GET /admin/budgets`. */
  readonly budgets: Budgets["Service"]
  readonly cacheAdmin: CacheAdmin["Service"]
  /** Writes answers to the caches: the MCP server's `cache_store`. */
  readonly cacheWrites: CacheWrites["Service"]
  readonly responsesPassThrough: ResponsesPassThrough["Service"]
  /** Where `/v1/responses` answers are kept for `GET` and `previous_response_id`. */
  readonly responseStore: ResponseStoreShape
  /** True once the gateway drains (SIGTERM): `/healthz` answers 503. */
  readonly draining: () => boolean
  /** Aborted once the gateway drains or is disposed: live event streams end then. */
  readonly stopping?: AbortSignal
  readonly hashSecret: (secret: string) => string
  /** The provider's own token count of an Anthropic Messages body; `undefined`: estimate it here. */
  readonly countTokens: ((body: Readonly<Record<string, unknown>>) => Effect.Effect<number, ProviderError>) | undefined
  /**
   * Runs an effect on the gateway's runtime (its tracer, logger). A client that leaves does not interrupt it: a
   * plain miss still completes and is cached (and serves its coalesced followers); a stream is cancelled.
   */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly version: string
  /** Milliseconds since the epoch, injected so `/health` uptime is testable. */
  readonly now: () => number
  /** L1a, for the exact-hit lane. */
  readonly exactCache: ExactCache["Service"]
  /** The gateway's runtime: the metric registry the exact-hit lane counts its hits in. */
  readonly metrics: Context.Context<never>
  /** See `GatewayOptions.shareResponseHeaders`. */
  readonly shareResponseHeaders?: boolean
  /** See `GatewayOptions.exactHitLane`. */
  readonly exactHitLane?: boolean
  /** The named `gateway_keys`, their keys hashed: accepted like the gateway key, their label in the ledger. */
  readonly gatewayKeys?: ReadonlyArray<NamedGatewayKey>
  /** The usage ledger: with an admin key, `/admin/overview`, `/admin/usage`, `/admin/requests`, `/admin/events`. */
  readonly usage?: UsageLedger["Service"]
  /** Where each setting came from and the start-up warnings, for `/admin/overview`. */
  readonly configReport?: ConfigReport["Service"]
  /** Which runtime serves, e.g. "node v20.20.2". */
  readonly runtime?: string
}

/** Anthropic's namespace (`/v1/messages` and below, e.g. `count_tokens`) answers errors in Anthropic's format. */
const familyOf = (path: string): EndpointFamily =>
  path === "/v1/messages" || path.startsWith("/v1/messages/")
    ? "anthropic"
    : isGeminiPath(path)
    ? "gemini"
    : path === "/v1/responses" || path.startsWith("/v1/responses/")
    ? "responses"
    : "openai"

/** Headers of the OpenAI and Anthropic APIs that an upstream speaking the same API receives as the client sent them. */
const PROTOCOL_HEADERS = ["anthropic-version", "anthropic-beta", "openai-organization", "openai-project"] as const

const protocolHeaders = (request: Request): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const name of PROTOCOL_HEADERS) {
    const value = request.headers.get(name)
    if (value !== null) headers[name] = value
  }
  return headers
}

/** The gateway's HTTP face: one `fetch` for every route, given the request's path and its exchange by the edge. */
export interface GatewayApp {
  readonly fetch: EdgeFetch
}

/** What the edge hands the Hono app with each request (`c.env`): its exchange, carried explicitly. */
interface Carried {
  readonly exchange: Exchange
}
const exchangeOf = (c: HonoContext): Exchange | undefined => (c.env as Carried | undefined)?.exchange

export const makeApp = (deps: AppDependencies): GatewayApp => {
  const app = new Hono()
  const startedAt = deps.now()

  const allowedDirectives = new Set(deps.config.cache_controls_allowed)
  const aliases = modelAliases(deps.config)
  const requestContext = (
    request: Request,
    exchange: Exchange | undefined,
    similarityThreshold?: number
  ): RequestContext & Pick<CacheDirectives, "refused"> => {
    const headers = request.headers
    const session = headers.get("x-isartor-session-id") ?? ""
    const directives = readCacheDirectives(
      headers.get("cache-control") ?? undefined,
      headers.get("x-isartor-cache-ttl") ?? undefined,
      allowedDirectives
    )
    // Field by field rather than spread: this runs on every exact hit.
    return {
      defaultModel: deps.config.external_llm_model,
      tenant: `${deps.hashSecret(presentedCredentials(headers))}|${session}`,
      trace: exchange,
      similarityThreshold,
      cacheRead: directives.cacheRead,
      cacheWrite: directives.cacheWrite,
      maxAgeMs: directives.maxAgeMs,
      storeTtlMs: directives.storeTtlMs,
      onlyIfCached: directives.onlyIfCached,
      refused: directives.refused,
      aliases,
      callerLabel: exchange?.label
    }
  }
  /** A request whose caching directives cannot be honoured, answered in its client's format. */
  const refusal = (family: EndpointFamily, context: Pick<CacheDirectives, "refused">) =>
    context.refused &&
    familyError(family, context.refused.status, context.refused.message, "invalid_request_error", {
      code: context.refused.status === 403 ? "cache_control_forbidden" : "invalid_cache_control"
    })

  /** The similarity threshold a request asks for; `null` when it asks for one outside 0–1. */
  const similarityThresholdOf = (request: Request): number | undefined | null => {
    const threshold = request.headers.get("x-isartor-similarity-threshold")
    if (threshold === null) return undefined
    const value = Number(threshold)
    return value >= 0 && value <= 1 ? value : null
  }
  // The lane is built below, in front of the app; the chat route teaches it the bodies it decodes.
  let learn: ReturnType<typeof withoutExactHitLane>["learn"] = () => undefined
  /** A chat request whose body has been read: decoded, answered by the pipeline, rendered in its client's format. */
  const chat = (family: EndpointFamily, decode: RequestDecoder) =>
  async (
    http: Request,
    body: string,
    exchange: Exchange | undefined
  ): Promise<Response> => {
    const similarityThreshold = similarityThresholdOf(http)
    if (similarityThreshold === null) {
      return familyError(
        family,
        400,
        "X-Isartor-Similarity-Threshold: expected a number between 0 and 1",
        "invalid_request_error"
      )
    }
    const context = requestContext(http, exchange, similarityThreshold)
    const refused = refusal(family, context)
    if (refused) return refused
    const parsed = parseJsonBody(body)
    const received = { text: body, headers: protocolHeaders(http) }
    const decoded = Exit.isSuccess(parsed)
      ? decode(parsed.value, { ...context, received })
      : Exit.failCause(parsed.cause)
    if (Exit.isFailure(decoded)) return renderFailure(family, decoded.cause)
    const request = decoded.value
    const key = deps.pipeline.exactKey(request)
    // Gemini names the model in the path, not the body: its bodies are not the lane's to know.
    if (family !== "gemini") {
      learn(family, http, context.tenant, body, {
        key,
        model: request.model,
        stream: request.stream,
        includeUsage: asksForUsage(request)
      })
    }
    const note = exchange && (exchange.usage = {
      tenant: context.tenant,
      modelAsked: request.model,
      stream: request.stream,
      ...(deps.config.request_log_bodies ? { question: questionOf(request.messages) } : {})
    })
    const exit = await deps.run(deps.pipeline.handle(request, key))
    return Exit.isSuccess(exit)
      ? renderAnswer(request, noteAnswer(note, exit.value), deps.now())
      : renderFailure(family, exit.cause)
  }

  const namedKeys = deps.gatewayKeys ?? []
  const checkKey = Redacted.value(deps.config.gateway_api_key) === "" && namedKeys.length === 0
    ? undefined
    : gatewayKeyCheck(deps.config.gateway_api_key, namedKeys)
  const readBody = bodyReader(deps.config.max_body_bytes)
  /** The request reached an answer path: the usage ledger will record it (see `UsageNote`). */
  const noteUsage = (c: HonoContext, tenant: string, modelAsked: string, stream: boolean): UsageNote | undefined => {
    const exchange = exchangeOf(c)
    return exchange && (exchange.usage = { tenant, modelAsked, stream })
  }
  const chatRoutes = new Map<string, { readonly family: EndpointFamily; readonly handle: ReturnType<typeof chat> }>([
    ["/v1/chat/completions", { family: "openai", handle: chat("openai", fromOpenAIBody) }],
    ["/v1/messages", { family: "anthropic", handle: chat("anthropic", fromAnthropicBody) }],
    ["/api/chat", { family: "native", handle: chat("native", fromNativeBody) }]
  ])

  // A draining replica (SIGTERM) says so first, so the load balancer takes it out before it stops accepting.
  app.get("/healthz", (c) => deps.draining() ? c.json({ status: "draining" }, 503) : c.json({ status: "ok" }))
  const cacheDeps = {
    admin: deps.cacheAdmin,
    adminKey: deps.config.admin_api_key,
    tenantOf: (c: HonoContext) => requestContext(c.req.raw, undefined).tenant,
    run: deps.run
  }
  // Before the gateway key's check: the admin routes take the admin key, and the gateway key does not open them.
  adminCacheRoutes(app, cacheDeps)
  adminProviderRoutes(app, { config: deps.config, status: deps.pipeline.status, run: deps.run })
  adminBudgetRoutes(app, { config: deps.config, status: deps.budgets.status, run: deps.run })
  if (Redacted.value(deps.config.admin_api_key) !== "" && deps.usage !== undefined) {
    adminRoutes(app, {
      config: deps.config,
      configReport: deps.configReport ?? { file: undefined, setBy: {}, warnings: [] },
      usage: deps.usage,
      status: deps.pipeline.status,
      metrics: deps.metrics,
      version: deps.version,
      runtime: deps.runtime ?? "in-process",
      startedAt,
      now: deps.now,
      run: deps.run,
      ...(deps.stopping === undefined ? {} : { stopping: deps.stopping })
    })
  }
  dashboardRoutes(app, deps.config.admin_api_key)
  // Registered only when a key is set: an idle middleware still costs every request its place in the chain.
  if (checkKey !== undefined) app.use("*", gatewayAuth(checkKey, familyOf))

  const health = async () => {
    const exit = await deps.run(deps.pipeline.status)
    return {
      status: "ok",
      version: deps.version,
      uptime_secs: Math.round((deps.now() - startedAt) / 1000),
      layers: Exit.isSuccess(exit) ? exit.value.layers : {},
      providers: Exit.isSuccess(exit) ? providerHealth(exit.value.providers ?? []) : {},
      coalescing: Exit.isSuccess(exit) ? exit.value.coalescing : undefined
    }
  }
  app.get("/health", async (c) => c.json(await health()))
  mcpRoutes(app, {
    tools: makeGatewayTools({ ...deps, health }),
    version: deps.version,
    readBody,
    requestContext: (c: HonoContext) => requestContext(c.req.raw, exchangeOf(c))
  })

  modelRoutes(app, { config: deps.config, aliases, startedAt })

  for (const [path, route] of chatRoutes) {
    app.post(path, async (c) => {
      const body = await readBody(c, route.family)
      return typeof body === "string" ? route.handle(c.req.raw, body, exchangeOf(c)) : body
    })
  }
  geminiRoutes(app, {
    config: deps.config,
    aliases,
    chat: (decode) => chat("gemini", decode),
    readBody,
    exchangeOf,
    startedAt
  })
  // Claude Code asks it before long requests: the provider counts when it speaks the Anthropic API, else an estimate.
  app.post("/v1/messages/count_tokens", async (c) => {
    const text = await readBody(c, "anthropic")
    if (typeof text !== "string") return text
    const parsed = parseJsonBody(text)
    if (Exit.isFailure(parsed)) return renderFailure("anthropic", parsed.cause)
    const body = parsed.value
    // The same checks as a Messages request, which has `max_tokens` where a count has none.
    const checked = typeof body === "object" && body !== null && !Array.isArray(body)
      ? fromAnthropicBody({ max_tokens: 1, ...body }, requestContext(c.req.raw, exchangeOf(c)))
      : fromAnthropicBody(body, requestContext(c.req.raw, exchangeOf(c)))
    if (Exit.isFailure(checked)) return renderFailure("anthropic", checked.cause)
    const counted = body as Readonly<Record<string, unknown>>
    if (deps.countTokens === undefined) {
      return c.json({ input_tokens: await estimateInputTokens(counted) }, 200, { "x-isartor-token-count": "estimate" })
    }
    const exit = await deps.run(deps.countTokens(counted))
    return Exit.isSuccess(exit)
      ? c.json({ input_tokens: exit.value }, 200, { "x-isartor-token-count": "provider" })
      : renderFailure("anthropic", exit.cause)
  })
  cacheRoutes(app, cacheDeps)
  // Forwarded to the provider and exact-cached, so a client pointed wholly at the gateway keeps its embeddings.
  app.post("/v1/embeddings", async (c) => {
    const text = await readBody(c, "openai")
    if (typeof text !== "string") return text
    const parsed = parseJsonBody(text)
    const checked = Exit.isSuccess(parsed) ? checkEmbeddingsBody(parsed.value) : Exit.failCause(parsed.cause)
    if (Exit.isFailure(checked)) return renderFailure("openai", checked.cause)
    const context = requestContext(c.req.raw, exchangeOf(c))
    const refused = refusal("openai", context)
    if (refused) return refused
    const { tenant, cacheRead, cacheWrite, onlyIfCached } = context
    const note = noteUsage(c, tenant, String(checked.value.model ?? ""), false)
    const exit = await deps.run(
      deps.embeddings.create({
        body: checked.value,
        tenant,
        callerLabel: context.callerLabel,
        cacheRead,
        cacheWrite,
        onlyIfCached
      })
    )
    if (Exit.isFailure(exit)) return renderFailure("openai", exit.cause)
    const answer = exit.value
    noteJson(note, answer.body)
    return new Response(answer.body, {
      headers: {
        "content-type": "application/json",
        ...pipelineHeaders(answer.layer, answer.provider, answer.cacheKey)
      }
    })
  })
  responsesRoutes(app, {
    pipeline: deps.pipeline,
    passThrough: deps.responsesPassThrough,
    protocolHeaders: (c: HonoContext) => protocolHeaders(c.req.raw),
    store: deps.responseStore,
    readBody,
    requestContext: (c: HonoContext) => requestContext(c.req.raw, exchangeOf(c)),
    refusal: (c: HonoContext) => refusal("responses", requestContext(c.req.raw, exchangeOf(c))),
    noteUsage,
    run: deps.run,
    now: deps.now
  })

  app.notFound((c) =>
    familyError(familyOf(c.req.path), 404, `no route for ${c.req.method} ${c.req.path}`, "invalid_request_error")
  )
  const unhandled = (error: unknown, path: string) => {
    // Through the gateway's logger, like every other line: the runtime decides where it goes.
    void deps.run(
      Effect.logError(`unhandled error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    )
    return familyError(familyOf(path), 500, "internal gateway error", "internal_error")
  }
  app.onError((error, c) => unhandled(error, c.req.path))

  const plain: EdgeFetch = (request, _path, exchange) => app.fetch(request, { exchange } satisfies Carried)
  // The lane answers before a body is decoded: with `request_log_bodies`, the ledger's question needs it decoded.
  if (deps.exactHitLane === false || deps.config.request_log_bodies) return withoutExactHitLane(plain)
  const lane = makeExactHitLane(plain, {
    config: deps.config,
    exactCache: deps.exactCache,
    metrics: deps.metrics,
    routes: new Map([...chatRoutes].map(([path, route]) => [path, route.family])),
    contextOf: (request) => {
      if (similarityThresholdOf(request) === null) return undefined
      const context = requestContext(request, undefined)
      return context.refused ? undefined : context
    },
    checkKey,
    failed: unhandled,
    shareResponseHeaders: deps.shareResponseHeaders === true,
    now: deps.now
  })
  learn = lane.learn
  return lane
}
