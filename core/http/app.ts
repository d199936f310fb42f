import { type Context, Effect, Exit, Redacted } from "effect"
import { Hono } from "hono"
import type { Context as HonoContext } from "hono"
import type { Budgets } from "../budgets/Budgets.ts"
import type { CacheAdmin } from "../cache/CacheAdmin.ts"
import type { ExactCache } from "../cache/exact/ExactCache.ts"
import type { ConfigReport } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { modelAliases } from "../config/modelAliases.ts"
import { type EndpointFamily, fromNativeBody, fromOpenAIBody } from "../domain/ChatRequest.ts"
import type { ProviderError } from "../domain/errors.ts"
import { fromAnthropicBody } from "../formats/anthropic/messagesBody.ts"
import { makeGatewayTools } from "../mcp/gatewayTools.ts"
import type { CacheWrites } from "../pipeline/CacheWrites.ts"
import type { Embeddings } from "../pipeline/Embeddings.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import type { ResponseStoreShape } from "../responses/ResponseStore.ts"
import type { UsageLedger } from "../usage/UsageLedger.ts"
import { adminRoutes } from "./admin.ts"
import { adminBudgetRoutes } from "./adminBudgets.ts"
import { adminProviderRoutes, providerHealth } from "./adminProviders.ts"
import { answerRoutes, type AnswerShared, type Carried, type ChatRoutes, exchangeOf } from "./answerRoutes.ts"
import { adminCacheRoutes } from "./cache.ts"
import { chatHandlers, l1bErrorBudgetOf, requestContextOf, similarityThresholdOf } from "./chat.ts"
import { dashboardRoutes } from "./dashboard/routes.ts"
import { familyError } from "./errors.ts"
import {
  type ExactHitLane,
  type ExactHitLaneDependencies,
  makeExactHitLane,
  withoutExactHitLane
} from "./exactHitLane.ts"
import type { NamedGatewayKey } from "./gatewayKeys.ts"
import { isGeminiPath } from "./gemini.ts"
import { mcpRoutes } from "./mcp.ts"
import { bodyReader, gatewayAuth, gatewayKeyCheck } from "./middleware.ts"
import { modelRoutes } from "./models.ts"
import type { EdgeFetch } from "./observability.ts"

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
  /** See `GatewayOptions.parseInPieces`. */
  readonly parseInPieces?: boolean
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

/** The gateway's HTTP face: one `fetch` for every route, given the request's path and its exchange by the edge. */
export interface GatewayApp {
  readonly fetch: EdgeFetch
}

/** What the route groups share, built once per app. */
interface Shared extends AnswerShared {
  readonly deps: AppDependencies
  readonly requestContext: ReturnType<typeof requestContextOf>
}

/** The admin key's routes: registered before the gateway key's check, which does not open them. */
const adminGroup = (app: Hono, { cacheDeps, deps, startedAt }: Shared) => {
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
}

/** `/health`, and the MCP server whose tools report it too. */
const healthGroup = (app: Hono, { contextOf, deps, readBody, startedAt }: Shared) => {
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
    requestContext: contextOf
  })
}

/** A defect no route caught: logged, and answered as a 500 in the client's format. */
const unhandledOf = (deps: AppDependencies) => (error: unknown, path: string) => {
  // Through the gateway's logger, like every other line: the runtime decides where it goes.
  void deps.run(
    Effect.logError(`unhandled error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
  )
  return familyError(familyOf(path), 500, "internal gateway error", "internal_error")
}

/** The exact-hit lane in front of the app, taught by the chat routes; the app alone when the lane is off. */
const withLane = (
  plain: EdgeFetch,
  { deps, requestContext }: Shared,
  chatRoutes: ChatRoutes,
  lane: Pick<ExactHitLaneDependencies, "checkKey" | "failed">
): ExactHitLane => {
  // The lane answers before a body is decoded: with `request_log_bodies`, the ledger's question needs it decoded.
  if (deps.exactHitLane === false || deps.config.request_log_bodies) return withoutExactHitLane(plain)
  return makeExactHitLane(plain, {
    config: deps.config,
    exactCache: deps.exactCache,
    metrics: deps.metrics,
    routes: new Map([...chatRoutes].map(([path, route]) => [path, route.family])),
    contextOf: (request) => {
      if (similarityThresholdOf(request) === null || l1bErrorBudgetOf(request) === null) return undefined
      const context = requestContext(request, undefined)
      return context.refused ? undefined : context
    },
    checkKey: lane.checkKey,
    failed: lane.failed,
    shareResponseHeaders: deps.shareResponseHeaders === true,
    now: deps.now
  })
}

export const makeApp = (deps: AppDependencies): GatewayApp => {
  const app = new Hono()
  const aliases = modelAliases(deps.config)
  const requestContext = requestContextOf(deps.config, deps.hashSecret, aliases)
  const shared: Shared = {
    deps,
    startedAt: deps.now(),
    aliases,
    requestContext,
    contextOf: (c) => requestContext(c.req.raw, exchangeOf(c)),
    readBody: bodyReader(deps.config.max_body_bytes),
    cacheDeps: {
      admin: deps.cacheAdmin,
      adminKey: deps.config.admin_api_key,
      tenantOf: (c: HonoContext) => requestContext(c.req.raw, undefined).tenant,
      run: deps.run
    }
  }
  const { chat, teach } = chatHandlers(deps, requestContext)
  const chatRoutes: ChatRoutes = new Map([
    ["/v1/chat/completions", { family: "openai", handle: chat("openai", fromOpenAIBody) }],
    ["/v1/messages", { family: "anthropic", handle: chat("anthropic", fromAnthropicBody) }],
    ["/api/chat", { family: "native", handle: chat("native", fromNativeBody) }]
  ])
  const namedKeys = deps.gatewayKeys ?? []
  const checkKey = Redacted.value(deps.config.gateway_api_key) === "" && namedKeys.length === 0
    ? undefined
    : gatewayKeyCheck(deps.config.gateway_api_key, namedKeys)

  // A draining replica (SIGTERM) says so first, so the load balancer takes it out before it stops accepting.
  app.get("/healthz", (c) => deps.draining() ? c.json({ status: "draining" }, 503) : c.json({ status: "ok" }))
  adminGroup(app, shared)
  // Registered only when a key is set: an idle middleware still costs every request its place in the chain.
  if (checkKey !== undefined) app.use("*", gatewayAuth(checkKey, familyOf))
  healthGroup(app, shared)
  modelRoutes(app, { config: deps.config, aliases, startedAt: shared.startedAt })
  answerRoutes(app, deps, shared, chatRoutes, chat)
  app.notFound((c) =>
    familyError(familyOf(c.req.path), 404, `no route for ${c.req.method} ${c.req.path}`, "invalid_request_error")
  )
  const unhandled = unhandledOf(deps)
  app.onError((error, c) => unhandled(error, c.req.path))

  const plain: EdgeFetch = (request, _path, exchange) => app.fetch(request, { exchange } satisfies Carried)
  const lane = withLane(plain, shared, chatRoutes, { checkKey, failed: unhandled })
  teach(lane)
  return lane
}
