import type { Effect, Exit } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { EndpointFamily, ModelAlias } from "../domain/ChatRequest.ts"
import type { Embeddings } from "../pipeline/Embeddings.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import type { ResponseStoreShape } from "../responses/ResponseStore.ts"
import { type CacheRouteDependencies, cacheRoutes } from "./cache.ts"
import { type ChatHandler, type chatHandlers, type HeaderContext, protocolHeaders, refusal } from "./chat.ts"
import { type CountTokensDependencies, countTokensRoute } from "./countTokens.ts"
import { embeddingsRoute } from "./embeddings.ts"
import { geminiRoutes } from "./gemini.ts"
import type { bodyReader } from "./middleware.ts"
import type { NoteUsage } from "./noteUsage.ts"
import type { Exchange } from "./observability.ts"
import { responsesRoutes } from "./responses.ts"

/** What the edge hands the Hono app with each request (`c.env`): its exchange, carried explicitly. */
export interface Carried {
  readonly exchange: Exchange
}
export const exchangeOf = (c: HonoContext): Exchange | undefined => (c.env as Carried | undefined)?.exchange

/** See `NoteUsage`. */
const noteUsage: NoteUsage = (c, tenant, modelAsked, stream, body) => {
  const exchange = exchangeOf(c)
  return exchange && (exchange.usage = { tenant, modelAsked, stream, body })
}

/** The chat routes and the handler of each. */
export type ChatRoutes = ReadonlyMap<string, { readonly family: EndpointFamily; readonly handle: ChatHandler }>

/** What the answer routes take of the app's dependencies. */
export interface AnswerDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly embeddings: Embeddings["Service"]
  readonly responsesPassThrough: ResponsesPassThrough["Service"]
  readonly responseStore: ResponseStoreShape
  readonly countTokens: CountTokensDependencies["countTokens"]
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly now: () => number
  /** See `GatewayOptions.parseInPieces`. */
  readonly parseInPieces?: boolean | undefined
}

/** What the answer routes share with the app's other routes, built once per app. */
export interface AnswerShared {
  readonly startedAt: number
  readonly aliases: ReadonlyMap<string, ModelAlias>
  /** The request's context, read from its headers and carrying its exchange. */
  readonly contextOf: (c: HonoContext) => HeaderContext
  readonly readBody: ReturnType<typeof bodyReader>
  readonly cacheDeps: CacheRouteDependencies
}

/** The routes clients ask for answers: chat in each format, token counts, the cache, embeddings, responses. */
export const answerRoutes = (
  app: Hono,
  deps: AnswerDependencies,
  shared: AnswerShared,
  chatRoutes: ChatRoutes,
  chat: ReturnType<typeof chatHandlers>["chat"]
): void => {
  const { contextOf, readBody } = shared
  for (const [path, route] of chatRoutes) {
    app.post(path, async (c) => {
      const body = await readBody(c, route.family)
      return body instanceof Response ? body : route.handle(c.req.raw, body, exchangeOf(c))
    })
  }
  geminiRoutes(app, {
    config: deps.config,
    aliases: shared.aliases,
    chat: (decode) => chat("gemini", decode),
    readBody,
    exchangeOf,
    startedAt: shared.startedAt
  })
  countTokensRoute(app, { countTokens: deps.countTokens, readBody, requestContext: contextOf, run: deps.run })
  cacheRoutes(app, shared.cacheDeps)
  embeddingsRoute(app, { embeddings: deps.embeddings, readBody, requestContext: contextOf, noteUsage, run: deps.run })
  responsesRoutes(app, {
    pipeline: deps.pipeline,
    passThrough: deps.responsesPassThrough,
    protocolHeaders: (c: HonoContext) => protocolHeaders(c.req.raw),
    store: deps.responseStore,
    readBody,
    requestContext: contextOf,
    refusal: (c: HonoContext) => refusal("responses", contextOf(c)),
    noteUsage,
    run: deps.run,
    now: deps.now,
    parseInPieces: deps.parseInPieces
  })
}
