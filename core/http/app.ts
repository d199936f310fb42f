import { Cause, type Effect, Exit, Redacted } from "effect"
import { Hono } from "hono"
import type { Context as HonoContext } from "hono"
import {
  type ChatRequest,
  fromNativeBody,
  fromOpenAIBody,
  parseJsonBody,
  type RequestContext,
  type RequestDecoder
} from "../ChatRequest.ts"
import { type Completion, completionToSse, firstText } from "../Completion.ts"
import type { AppConfigShape } from "../ConfigSpec.ts"
import type { BadRequest, ProviderError } from "../errors.ts"
import type { Answer, LayerName, Pipeline } from "../Pipeline.ts"
import { badRequestResponse, errorBody, jsonResponse, providerErrorResponse } from "./errors.ts"
import { bodyReader, gatewayAuth, presentedKey } from "./middleware.ts"

export interface AppDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly hashSecret: (secret: string) => string
  /**
   * Runs an effect on the gateway's runtime (its tracer, logger). A client that leaves does not interrupt it: a
   * plain miss still completes and is cached (and serves its coalesced followers); a stream is cancelled.
   */
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly version: string
  /** Milliseconds since the epoch, injected so `/health` uptime is testable. */
  readonly now: () => number
}

const layerNumber: Record<LayerName, 1 | 2 | 3> = { l1a: 1, l1b: 1, l2: 2, l3: 3 }

const pipelineHeaders = (layer: LayerName, provider?: string): Record<string, string> => ({
  "x-isartor-layer": layer,
  "x-isartor-deflected": String(layer !== "l3"),
  ...(provider ? { "x-isartor-provider": provider } : {})
})

const sse = (body: ReadableStream<Uint8Array>, headers: Record<string, string>) =>
  new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", ...headers }
  })

/** Renders an answer in the format the client asked for. */
const render = (request: ChatRequest, answer: Answer): Response => {
  const headers = pipelineHeaders(answer.layer, answer.provider)
  if (answer._tag === "Stream") return sse(answer.body, headers)
  if (request.family === "native") {
    const completion = JSON.parse(answer.completion) as Completion
    return jsonResponse(200, { layer: layerNumber[answer.layer], message: firstText(completion), model: completion.model || request.model }, headers)
  }
  if (request.stream) return sse(completionToSse(JSON.parse(answer.completion) as Completion), headers)
  return new Response(answer.completion, { headers: { "content-type": "application/json", ...headers } })
}

/** A typed failure becomes its JSON error; anything else is a defect, for `onError`. */
const failureResponse = (cause: Cause.Cause<BadRequest | ProviderError>): Response => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "None") throw Cause.squash(cause)
  const error = failure.value
  return error._tag === "BadRequest" ? badRequestResponse(error) : providerErrorResponse(error, pipelineHeaders("l3"))
}

const cacheDirectives = (header: string | undefined) => {
  const directives = (header ?? "").toLowerCase().split(",").map((part) => part.trim())
  return { cacheRead: !directives.includes("no-cache"), cacheWrite: !directives.includes("no-store") }
}

export const makeApp = (deps: AppDependencies): Hono => {
  const app = new Hono()
  const startedAt = deps.now()

  const requestContext = (c: HonoContext): RequestContext => {
    const session = c.req.header("x-isartor-session-id") ?? ""
    return {
      defaultModel: deps.config.external_llm_model,
      tenant: `${deps.hashSecret(presentedKey(c) ?? "")}|${session}`,
      ...cacheDirectives(c.req.header("cache-control"))
    }
  }

  const chatRoute = (decode: RequestDecoder) =>
    async (c: HonoContext) => {
      const body = await readBody(c)
      if (typeof body !== "string") return body
      const context = requestContext(c)
      const parsed = parseJsonBody(body)
      const decoded = Exit.isSuccess(parsed) ? decode(parsed.value, context) : Exit.failCause(parsed.cause)
      if (Exit.isFailure(decoded)) return failureResponse(decoded.cause)
      const request = decoded.value
      const exit = await deps.run(deps.pipeline.handle(request))
      return Exit.isSuccess(exit) ? render(request, exit.value) : failureResponse(exit.cause)
    }

  const readBody = bodyReader(deps.config.max_body_bytes)

  app.get("/healthz", (c) => c.json({ status: "ok" }))
  // Registered only when a key is set: an idle middleware still costs every request its place in the chain.
  if (Redacted.value(deps.config.gateway_api_key) !== "") app.use("*", gatewayAuth(deps.config.gateway_api_key))

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
      data: [{ id: deps.config.external_llm_model, object: "model", created: Math.floor(startedAt / 1000), owned_by: deps.config.llm_provider }]
    }))

  app.post("/v1/chat/completions", chatRoute(fromOpenAIBody))
  app.post("/api/chat", chatRoute(fromNativeBody))

  app.notFound((c) =>
    jsonResponse(404, errorBody(`no route for ${c.req.method} ${new URL(c.req.url).pathname}`, "invalid_request_error"))
  )
  app.onError((error) => {
    console.error(`unhandled error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
    return jsonResponse(500, errorBody("internal gateway error", "internal_error"))
  })
  return app
}
