import { type Effect, Exit } from "effect"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import {
  type EndpointFamily,
  type ModelAlias,
  type RequestContext,
  type RequestDecoder
} from "../domain/ChatRequest.ts"
import { parseReceived, type ReceivedBody } from "../domain/receivedBody.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import { forOrigin } from "../providers/passThrough/PassThrough.ts"
import { noteAnswer, questionOf } from "../usage/recorder.ts"
import { type CacheDirectives, readCacheDirectives } from "./cacheControl.ts"
import { familyError } from "./errors.ts"
import type { ExactHitLane } from "./exactHitLane.ts"
import { presentedCredentials } from "./middleware.ts"
import type { Exchange } from "./observability.ts"
import { asksForUsage, renderAnswer, renderFailure } from "./render.ts"

/** Headers of the OpenAI and Anthropic APIs that an upstream speaking the same API receives as the client sent them. */
const PROTOCOL_HEADERS = ["anthropic-version", "anthropic-beta", "openai-organization", "openai-project"] as const

export const protocolHeaders = (request: Request): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const name of PROTOCOL_HEADERS) {
    const value = request.headers.get(name)
    if (value !== null) headers[name] = value
  }
  return headers
}

/** What a request's headers ask of its answer, and the directives refused, if any. */
export type HeaderContext = RequestContext & Pick<CacheDirectives, "refused">

/**
 * What a caller's scope is hashed from: its credentials, and for a request `isartor proxy` read, its host too (the
 * same token sent to two hosts is two callers). The leading line break is one no header value starts with.
 */
const scopeSecret = (credentials: string, exchange: Exchange | undefined) =>
  exchange?.passThrough === undefined ? credentials : `\n${exchange.passThrough.host}\n${credentials}`

/** Reads a request's headers into its context: who asks (the tenant), and how it may be cached. */
export const requestContextOf = (
  config: AppConfigShape,
  hashSecret: (secret: string) => string,
  aliases: ReadonlyMap<string, ModelAlias>
) => {
  const allowedDirectives = new Set(config.cache_controls_allowed)
  // The last caller's scope string, given again to its next request without a session: one string per request is
  // garbage on every exact hit, and the usage ledger's recent ring interns what it keeps of it.
  let lastScope = ""
  let lastTenant = "|"
  const tenantOf = (scope: string, session: string) => {
    if (session !== "") return `${scope}|${session}`
    if (scope !== lastScope) {
      lastScope = scope
      lastTenant = `${scope}|`
    }
    return lastTenant
  }
  return (
    request: Request,
    exchange: Exchange | undefined,
    similarityThreshold?: number,
    l1bErrorBudget?: number
  ): HeaderContext => {
    const headers = request.headers
    const session = headers.get("x-isartor-session-id") ?? ""
    const directives = readCacheDirectives(
      headers.get("cache-control") ?? undefined,
      headers.get("x-isartor-cache-ttl") ?? undefined,
      allowedDirectives
    )
    // Field by field rather than spread: this runs on every exact hit.
    return {
      defaultModel: config.external_llm_model,
      tenant: tenantOf(hashSecret(scopeSecret(presentedCredentials(headers), exchange)), session),
      trace: exchange,
      similarityThreshold,
      l1bErrorBudget,
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
}

/** A request whose caching directives cannot be honoured, answered in its client's format. */
export const refusal = (family: EndpointFamily, context: Pick<CacheDirectives, "refused">) =>
  context.refused &&
  familyError(family, context.refused.status, context.refused.message, "invalid_request_error", {
    code: context.refused.status === 403 ? "cache_control_forbidden" : "invalid_cache_control"
  })

/** The similarity threshold a request asks for; `null` when it asks for one outside 0–1. */
export const similarityThresholdOf = (request: Request): number | undefined | null => {
  const threshold = request.headers.get("x-isartor-similarity-threshold")
  if (threshold === null) return undefined
  const value = Number(threshold)
  return value >= 0 && value <= 1 ? value : null
}

/** The false-hit budget a request asks for (it can only tighten `l1b_error_budget`); `null` when not a fraction. */
export const l1bErrorBudgetOf = (request: Request): number | undefined | null => {
  const budget = request.headers.get("x-isartor-l1b-error-budget")
  if (budget === null) return undefined
  const value = budget.trim() === "" ? Number.NaN : Number(budget)
  return value >= 0 && value <= 1 ? value : null
}

export interface ChatDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly now: () => number
  /** See `GatewayOptions.parseInPieces`. */
  readonly parseInPieces?: boolean
}

/** Answers a chat request whose body has been read. */
export type ChatHandler = (http: Request, body: ReceivedBody, exchange: Exchange | undefined) => Promise<Response>

/**
 * Chat requests: decoded, answered by the pipeline, rendered in their client's format. The exact-hit lane is built
 * after the routes, in front of the app; once it is, `teach` hands it here to learn the bodies the routes decode.
 */
export const chatHandlers = (deps: ChatDependencies, requestContext: ReturnType<typeof requestContextOf>) => {
  let learn: ExactHitLane["learn"] = () => undefined
  const chat = (family: EndpointFamily, decode: RequestDecoder): ChatHandler => async (http, body, exchange) => {
    const similarityThreshold = similarityThresholdOf(http)
    if (similarityThreshold === null) {
      return familyError(
        family,
        400,
        "X-Isartor-Similarity-Threshold: expected a number between 0 and 1",
        "invalid_request_error"
      )
    }
    const l1bErrorBudget = l1bErrorBudgetOf(http)
    if (l1bErrorBudget === null) {
      return familyError(
        family,
        400,
        "X-Isartor-L1b-Error-Budget: expected a number between 0 and 1 (the share of L1b answers that may be wrong)",
        "invalid_request_error"
      )
    }
    const context = requestContext(http, exchange, similarityThreshold, l1bErrorBudget)
    const refused = refusal(family, context)
    if (refused) return refused
    const parsed = parseReceived(body, deps.parseInPieces !== false)
    const received = { body, headers: protocolHeaders(http) }
    const decoded = Exit.isSuccess(parsed)
      ? decode(parsed.value, { ...context, received })
      : Exit.failCause(parsed.cause)
    if (Exit.isFailure(decoded)) return renderFailure(family, decoded.cause)
    const request = decoded.value
    const key = deps.pipeline.exactKey(request)
    // Gemini names the model in the path, not the body: its bodies are not the lane's to know.
    if (family !== "gemini") {
      learn(family, http, context.tenant, body.bytes ?? body.text, {
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
      body: request.body,
      ...(deps.config.request_log_bodies ? { question: questionOf(request.messages) } : {})
    })
    const exit = await deps.run(forOrigin(exchange?.passThrough, deps.pipeline.handle(request, key)))
    return Exit.isSuccess(exit)
      ? renderAnswer(request, noteAnswer(note, exit.value), deps.now())
      : renderFailure(family, exit.cause)
  }
  const teach = (lane: ExactHitLane) => {
    learn = lane.learn
  }
  return { chat, teach }
}
