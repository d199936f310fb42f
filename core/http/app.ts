import { Effect, Exit, Redacted } from "effect"
import { Hono } from "hono"
import type { Context as HonoContext } from "hono"
import type { CacheAdmin } from "../cache/CacheAdmin.ts"
import { makeFirstLevelKeys } from "../cache/exact/FirstLevelKeys.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import {
  answerHeaderScope,
  type EndpointFamily,
  fromAnthropicBody,
  fromNativeBody,
  fromOpenAIBody,
  parseJsonBody,
  type RequestContext,
  type RequestDecoder
} from "../domain/ChatRequest.ts"
import { checkEmbeddingsBody } from "../domain/EmbeddingsRequest.ts"
import type { ProviderError } from "../domain/errors.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"
import type { Embeddings } from "../pipeline/Embeddings.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import { makeResponseStore } from "../responses/ResponseStore.ts"
import { adminCacheRoutes, cacheRoutes } from "./cache.ts"
import { type CacheDirectives, readCacheDirectives } from "./cacheControl.ts"
import { familyError } from "./errors.ts"
import { bodyReader, bodyTooLarge, gatewayAuth, gatewayKeyCheck, presentedCredentials } from "./middleware.ts"
import { pathOf, requestSpanOf } from "./observability.ts"
import { pipelineHeaders, renderAnswer, renderFailure, sharedHeadersRenderer } from "./render.ts"
import { responsesRoutes } from "./responses.ts"

/** Stored `/v1/responses` answers kept in memory (their JSON), least recently used evicted first. */
const RESPONSE_STORE_BYTES = 64 * 1024 * 1024
/** Bodies whose exact key is remembered (see FirstLevelKeys): ≈ 2 bytes a character at most. */
const FIRST_LEVEL_KEYS = { maxEntries: 20_000, maxChars: 16 * 1024 * 1024 }

export interface AppDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly embeddings: Embeddings["Service"]
  readonly cacheAdmin: CacheAdmin["Service"]
  readonly responsesPassThrough: ResponsesPassThrough["Service"]
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
  /** See `GatewayOptions.shareResponseHeaders`. */
  readonly shareResponseHeaders?: boolean
}

/** Anthropic's namespace (`/v1/messages` and below, e.g. `count_tokens`) answers errors in Anthropic's format. */
const familyOf = (path: string): EndpointFamily =>
  path === "/v1/messages" || path.startsWith("/v1/messages/")
    ? "anthropic"
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

/** The gateway's HTTP face: one `fetch` for every route. */
export interface GatewayApp {
  /** `path`: the request URL's, when the caller has read it already (`pathOf`). */
  readonly fetch: (request: Request, path?: string) => Response | Promise<Response>
}

export const makeApp = (deps: AppDependencies): GatewayApp => {
  const app = new Hono()
  const startedAt = deps.now()

  const allowedDirectives = new Set(deps.config.cache_controls_allowed)
  const requestContext = (
    request: Request,
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
      trace: requestSpanOf(request),
      similarityThreshold,
      cacheRead: directives.cacheRead,
      cacheWrite: directives.cacheWrite,
      maxAgeMs: directives.maxAgeMs,
      storeTtlMs: directives.storeTtlMs,
      onlyIfCached: directives.onlyIfCached,
      refused: directives.refused
    }
  }
  /** A request whose caching directives cannot be honoured, answered in its client's format. */
  const refusal = (family: EndpointFamily, context: Pick<CacheDirectives, "refused">) =>
    context.refused &&
    familyError(family, context.refused.status, context.refused.message, "invalid_request_error", {
      code: context.refused.status === 403 ? "cache_control_forbidden" : "invalid_cache_control"
    })

  const firstLevelKeys = makeFirstLevelKeys(FIRST_LEVEL_KEYS)
  const render = deps.shareResponseHeaders ? sharedHeadersRenderer() : renderAnswer
  /**
   * A chat request whose body has been read: the same for the hot lane and the Hono route. An exact hit is answered
   * synchronously, a miss with a promise. A defect throws (or rejects): the caller's error handler answers it.
   */
  const chat = (family: EndpointFamily, decode: RequestDecoder) =>
  (
    http: Request,
    body: string
  ): Response | Promise<Response> => {
    const threshold = http.headers.get("x-isartor-similarity-threshold")
    const similarityThreshold = threshold === null ? undefined : Number(threshold)
    if (similarityThreshold !== undefined && !(similarityThreshold >= 0 && similarityThreshold <= 1)) {
      return familyError(
        family,
        400,
        "X-Isartor-Similarity-Threshold: expected a number between 0 and 1",
        "invalid_request_error"
      )
    }
    const context = requestContext(http, similarityThreshold)
    const refused = refusal(family, context)
    if (refused) return refused
    // What enters the key besides the body: the family, the caller, and the headers that change an answer.
    const scope = `${family}\u0000${context.tenant}\u0000${answerHeaderScope(family, http.headers)}`
    // A body seen before: its key without a parse, and an exact hit without an effect run.
    const known = context.cacheRead ? firstLevelKeys.get(scope, body) : undefined
    if (known !== undefined) {
      const answer = deps.pipeline.answerNow(known.key, context)
      if (answer !== undefined) return render({ family, model: known.model, stream: known.stream }, answer)
    }
    const parsed = parseJsonBody(body)
    const received = { text: body, headers: protocolHeaders(http) }
    const decoded = Exit.isSuccess(parsed)
      ? decode(parsed.value, { ...context, received })
      : Exit.failCause(parsed.cause)
    if (Exit.isFailure(decoded)) return renderFailure(family, decoded.cause)
    const request = decoded.value
    const key = known?.key ?? deps.pipeline.exactKey(request)
    if (known === undefined) firstLevelKeys.set(scope, body, { key, model: request.model, stream: request.stream })
    const answer = known === undefined ? deps.pipeline.answerNow(key, request) : undefined
    if (answer !== undefined) return render(request, answer)
    return deps.run(deps.pipeline.handle(request, key)).then((exit) =>
      Exit.isSuccess(exit) ? render(request, exit.value) : renderFailure(family, exit.cause)
    )
  }

  const checkKey = Redacted.value(deps.config.gateway_api_key) === ""
    ? undefined
    : gatewayKeyCheck(deps.config.gateway_api_key)
  const readBody = bodyReader(deps.config.max_body_bytes)
  const chatRoutes = new Map<string, { readonly family: EndpointFamily; readonly handle: ReturnType<typeof chat> }>([
    ["/v1/chat/completions", { family: "openai", handle: chat("openai", fromOpenAIBody) }],
    ["/v1/messages", { family: "anthropic", handle: chat("anthropic", fromAnthropicBody) }],
    ["/api/chat", { family: "native", handle: chat("native", fromNativeBody) }]
  ])

  app.get("/healthz", (c) => c.json({ status: "ok" }))
  const cacheDeps = {
    admin: deps.cacheAdmin,
    adminKey: deps.config.admin_api_key,
    tenantOf: (c: HonoContext) => requestContext(c.req.raw).tenant,
    run: deps.run
  }
  // Before the gateway key's check: the admin routes take the admin key, and the gateway key does not open them.
  adminCacheRoutes(app, cacheDeps)
  // Registered only when a key is set: an idle middleware still costs every request its place in the chain.
  if (checkKey !== undefined) app.use("*", gatewayAuth(checkKey, familyOf))

  app.get("/health", async (c) => {
    const exit = await deps.run(deps.pipeline.status)
    return c.json({
      status: "ok",
      version: deps.version,
      uptime_secs: Math.round((deps.now() - startedAt) / 1000),
      layers: Exit.isSuccess(exit) ? exit.value.layers : {}
    })
  })

  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [{
        id: deps.config.external_llm_model,
        object: "model",
        created: Math.floor(startedAt / 1000),
        owned_by: deps.config.llm_provider
      }]
    }))

  for (const [path, route] of chatRoutes) {
    app.post(path, async (c) => {
      const body = await readBody(c, route.family)
      return typeof body === "string" ? route.handle(c.req.raw, body) : body
    })
  }
  // Claude Code asks it before long requests: the provider counts when it speaks the Anthropic API, else an estimate.
  app.post("/v1/messages/count_tokens", async (c) => {
    const text = await readBody(c, "anthropic")
    if (typeof text !== "string") return text
    const parsed = parseJsonBody(text)
    if (Exit.isFailure(parsed)) return renderFailure("anthropic", parsed.cause)
    const body = parsed.value
    // The same checks as a Messages request, which has `max_tokens` where a count has none.
    const checked = typeof body === "object" && body !== null && !Array.isArray(body)
      ? fromAnthropicBody({ max_tokens: 1, ...body }, requestContext(c.req.raw))
      : fromAnthropicBody(body, requestContext(c.req.raw))
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
    const context = requestContext(c.req.raw)
    const refused = refusal("openai", context)
    if (refused) return refused
    const { tenant, cacheRead, cacheWrite, onlyIfCached } = context
    const exit = await deps.run(
      deps.embeddings.create({ body: checked.value, tenant, cacheRead, cacheWrite, onlyIfCached })
    )
    if (Exit.isFailure(exit)) return renderFailure("openai", exit.cause)
    const answer = exit.value
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
    store: makeResponseStore(RESPONSE_STORE_BYTES),
    readBody,
    requestContext: (c: HonoContext) => requestContext(c.req.raw),
    refusal: (c: HonoContext) => refusal("responses", requestContext(c.req.raw)),
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

  /**
   * The hot lane: a chat POST to its route's very path with a declared length goes straight to its handler, the
   * same one the Hono route calls, in the same order of checks (gateway key, then size); everything else (a
   * chunked body, another path or spelling of it, another method) goes through Hono, whose dispatch and context were
   * a large share of an exact hit's time (`npm run bench`: exact hit ÷ bare Hono rose 0.51 → 0.58 on Node with it).
   */
  const tooLarge = bodyTooLarge(deps.config.max_body_bytes)
  const hotChat = (
    route: { readonly family: EndpointFamily; readonly handle: ReturnType<typeof chat> },
    request: Request,
    declared: string,
    path: string
  ): Response | Promise<Response> => {
    const failed = (error: unknown) => unhandled(error, path)
    // One promise on an exact hit (the body's): its handler answers synchronously.
    const handled = (body: string) => {
      try {
        const answer = route.handle(request, body)
        return answer instanceof Promise ? answer.catch(failed) : answer
      } catch (error) {
        return failed(error)
      }
    }
    const sized = () =>
      Number(declared) > deps.config.max_body_bytes ? tooLarge(route.family) : request.text().then(handled, failed)
    if (checkKey === undefined) {
      try {
        return sized()
      } catch (error) {
        return failed(error)
      }
    }
    return checkKey(request.headers, route.family).then((refused) => refused ?? sized()).catch(failed)
  }
  const fetch = (request: Request, path?: string): Response | Promise<Response> => {
    if (request.method === "POST") {
      path ??= pathOf(request.url)
      const route = chatRoutes.get(path)
      const declared = route === undefined ? null : request.headers.get("content-length")
      if (declared !== null && request.headers.get("transfer-encoding") === null) {
        return hotChat(route!, request, declared, path)
      }
    }
    return app.fetch(request)
  }
  return { fetch }
}
