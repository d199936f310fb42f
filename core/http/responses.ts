/**
 * The OpenAI Responses API (`/v1/responses`), as Codex, the AI SDK's default model objects and `responses.create`
 * speak it: translated to Chat Completions, answered through the same pipeline and caches, rendered back as a
 * `response` (or its typed stream events) and, unless `store: false`, kept for `GET`, `DELETE` and
 * `previous_response_id`.
 */
import { Effect, Exit } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import type { Answer } from "../domain/Answer.ts"
import { chatRequest, type RequestContext } from "../domain/ChatRequest.ts"
import type { Completion } from "../domain/Completion.ts"
import { completionToSse } from "../domain/Completion.ts"
import { parseReceived, type ReceivedBody } from "../domain/receivedBody.ts"
import { checkResponsesBody } from "../domain/ResponsesRequest.ts"
import { withReceivedText } from "../domain/SourceRequest.ts"
import { responseToSse } from "../formats/responses/replay.ts"
import { fromResponsesRequest } from "../formats/responses/request.ts"
import {
  assistantTurnOf,
  newResponseId,
  type ResponseContext,
  toResponseObject
} from "../formats/responses/response.ts"
import { openAIStreamToResponses } from "../formats/responses/stream.ts"
import { makeReportThrottle } from "../observability/reportThrottle.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { PassThroughAnswer, ResponsesPassThrough } from "../pipeline/ResponsesPassThrough.ts"
import type { ResponseStoreShape, StoredResponse } from "../responses/ResponseStore.ts"
import { noteAnswer, noteJson, noteStream, type UsageNote } from "../usage/recorder.ts"
import { familyError, jsonResponse } from "./errors.ts"
import type { NoteUsage } from "./noteUsage.ts"
import { answerHeaders, pipelineHeaders, renderFailure, sse, translateTypedSse } from "./render.ts"

export interface ResponsesRouteDependencies {
  readonly pipeline: Pipeline["Service"]
  readonly passThrough: ResponsesPassThrough["Service"]
  readonly protocolHeaders: (c: HonoContext) => Record<string, string>
  readonly store: ResponseStoreShape
  readonly readBody: (c: HonoContext, family: "responses") => Promise<ReceivedBody | Response>
  readonly requestContext: (c: HonoContext) => RequestContext
  /** The error for caching directives the gateway cannot honour, if the request has any. */
  readonly refusal: (c: HonoContext) => Response | undefined
  /** Tells the usage ledger the request reached an answer path. */
  readonly noteUsage: NoteUsage
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly now: () => number
  /** See `GatewayOptions.parseInPieces`. */
  readonly parseInPieces?: boolean | undefined
}

const notFound = (id: string) =>
  familyError("responses", 404, `No response found with id '${id}'.`, "invalid_request_error", {
    param: "response_id",
    code: "response_not_found"
  })

/** The store could not be read or written (Redis down): a retry may succeed, so 503 and not "not found". */
const storeUnavailable = (error: unknown) =>
  familyError(
    "responses",
    503,
    `stored responses are unavailable right now (${error instanceof Error ? error.message : String(error)})`,
    "server_error",
    { code: "response_store_unavailable" }
  )

/**
 * Waits for the store's write of a stream's last events before they leave: the events carrying `response.completed`
 * are produced in the same step as the save starts, so a client that continues the conversation at once — on any
 * replica — finds it saved.
 */
const afterSaved = (body: ReadableStream<Uint8Array>, saving: () => Promise<void> | undefined) =>
  body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await saving()
        controller.enqueue(chunk)
      }
    })
  )

/** Where a response is being saved: a stream's last events wait for it. */
interface Saving {
  current: Promise<void> | undefined
}

type Saved = (id: string, entry: StoredResponse) => Promise<void>

/** The request's body, parsed and checked; or the answer that refuses it. */
const checkedBody = async (c: HonoContext, deps: ResponsesRouteDependencies) => {
  const refused = deps.refusal(c)
  if (refused) return refused
  const read = await deps.readBody(c, "responses")
  if (read instanceof Response) return read
  const parsed = parseReceived(read, deps.parseInPieces !== false)
  const checked = Exit.isSuccess(parsed) ? checkResponsesBody(parsed.value) : Exit.failCause(parsed.cause)
  return Exit.isFailure(checked) ? renderFailure("responses", checked.cause) : { received: read, body: checked.value }
}

/**
 * The stored response a request continues (undefined: it continues none), or the answer that it cannot. Only a
 * response this caller was given can be continued, even one the upstream holds: every caller reaches the upstream
 * with the gateway's one key, so its store would not tell them apart.
 */
const previousOf = async (deps: ResponsesRouteDependencies, body: Record<string, unknown>, tenant: string) => {
  const previousId = typeof body.previous_response_id === "string" ? body.previous_response_id : undefined
  if (previousId === undefined) return undefined
  let previous: StoredResponse | undefined
  try {
    previous = await deps.store.get(previousId, tenant)
  } catch (error) {
    return storeUnavailable(error)
  }
  return previous ?? familyError(
    "responses",
    400,
    `Previous response with id '${previousId}' not found.`,
    "invalid_request_error",
    { param: "previous_response_id", code: "previous_response_not_found" }
  )
}

/** The Responses API passed through to a provider that speaks it; its answer kept as it gave it. */
const passedThrough = async (
  c: HonoContext,
  deps: ResponsesRouteDependencies,
  { received, body }: { received: ReceivedBody; body: Record<string, unknown> },
  context: RequestContext,
  saved: Saved
) => {
  const saving: Saving = { current: undefined }
  const keep = (response: Record<string, unknown>) => {
    if (body.store !== false && typeof response.id === "string") {
      saving.current = saved(response.id, { tenant: context.tenant, response, conversation: [] })
    }
  }
  const request = {
    // A large body's bytes as received: its exact key is made of them, as for Anthropic and Gemini bodies.
    source: withReceivedText(received, { body, headers: deps.protocolHeaders(c) }),
    stream: body.stream === true,
    tenant: context.tenant,
    callerLabel: context.callerLabel,
    cacheRead: context.cacheRead,
    cacheWrite: context.cacheWrite,
    onlyIfCached: context.onlyIfCached
  }
  const note = deps.noteUsage(c, context.tenant, String(body.model ?? ""), request.stream, body)
  const exit = await deps.run(deps.passThrough.call(request, keep))
  if (Exit.isFailure(exit)) return renderFailure("responses", exit.cause)
  await saving.current
  return renderPassedThrough(notePassedThrough(note, exit.value), request.stream, () => saving.current)
}

/** Translated to Chat Completions, answered by the pipeline, rendered back as a response and kept. */
const translatedAnswer = async (
  c: HonoContext,
  deps: ResponsesRouteDependencies,
  body: Record<string, unknown>,
  previous: StoredResponse | undefined,
  context: RequestContext,
  saved: Saved
) => {
  const translated = fromResponsesRequest(body, previous?.conversation ?? [])
  if (translated.dropped.length > 0) {
    void deps.run(
      Effect.logDebug(`/v1/responses: no Chat Completions counterpart, dropped: ${translated.dropped.join(", ")}`)
    )
  }
  const model = typeof body.model === "string" && body.model.trim() !== "" ? body.model : context.defaultModel
  const request = chatRequest("responses", translated.body, model, body.stream === true, context)
  const note = deps.noteUsage(c, context.tenant, model, request.stream, body)
  const exit = await deps.run(deps.pipeline.handle(request))
  if (Exit.isFailure(exit)) return renderFailure("responses", exit.cause)
  const responseContext: ResponseContext = {
    id: newResponseId(),
    createdAt: Math.floor(deps.now() / 1000),
    request: body,
    model
  }
  const saving: Saving = { current: undefined }
  const remember = (response: Record<string, unknown>) => {
    if (body.store === false) return
    saving.current = saved(responseContext.id, {
      tenant: context.tenant,
      response,
      conversation: [...(previous?.conversation ?? []), ...translated.turns, assistantTurnOf(response)]
    })
  }
  const answer = noteAnswer(note, exit.value)
  const rendered = render(answer, responseContext, body.stream === true, remember, () => saving.current, deps.now())
  await saving.current
  return rendered
}

const SAVE_WARNING_INTERVAL_MS = 30_000

export const responsesRoutes = (app: Hono, deps: ResponsesRouteDependencies): void => {
  // A store that is down would otherwise name itself once per answer: once per interval, with the count since.
  const throttle = makeReportThrottle(SAVE_WARNING_INTERVAL_MS)
  /** Saves without failing the answer: a write Redis refused costs the next read, and says so in the log. */
  const saved: Saved = (id, entry) =>
    deps.store.save(id, entry).catch((error: unknown) => {
      const count = throttle("save", deps.now())
      if (count === undefined) return
      void deps.run(
        Effect.logWarning(
          `/v1/responses: could not store ${id} (${deps.store.backend}): ${
            error instanceof Error ? error.message : String(error)
          } (${count} time(s) since the last warning)`
        )
      )
    })

  app.post("/v1/responses", async (c) => {
    const checked = await checkedBody(c, deps)
    if (checked instanceof Response) return checked
    const context = deps.requestContext(c)
    const previous = await previousOf(deps, checked.body, context.tenant)
    if (previous instanceof Response) return previous
    return deps.passThrough.available(checked.body)
      ? passedThrough(c, deps, checked, context, saved)
      : translatedAnswer(c, deps, checked.body, previous, context, saved)
  })

  app.get("/v1/responses/:id", async (c) => {
    const id = c.req.param("id")
    try {
      const stored = await deps.store.get(id, deps.requestContext(c).tenant)
      return stored === undefined ? notFound(id) : jsonResponse(200, stored.response)
    } catch (error) {
      return storeUnavailable(error)
    }
  })

  app.delete("/v1/responses/:id", async (c) => {
    const id = c.req.param("id")
    try {
      return await deps.store.remove(id, deps.requestContext(c).tenant)
        ? jsonResponse(200, { id, object: "response", deleted: true })
        : notFound(id)
    } catch (error) {
      return storeUnavailable(error)
    }
  })
}

/** The provider's own answer, as it gave it; a stored one replayed as events when the client asked for a stream. */
/** What the usage ledger reads of a passed-through answer: the whole response's usage, or its stream's. */
const notePassedThrough = (note: UsageNote | undefined, answer: PassThroughAnswer): PassThroughAnswer => {
  if (answer._tag === "Stream") return { ...answer, body: noteStream(note, answer.body) }
  noteJson(note, JSON.stringify({ model: answer.response.model, usage: answer.response.usage }))
  return answer
}

const renderPassedThrough = (
  answer: PassThroughAnswer,
  stream: boolean,
  saving: () => Promise<void> | undefined
): Response => {
  const headers = pipelineHeaders(answer.layer, answer.provider, answer.cacheKey)
  if (answer.contextSaved) headers["x-isartor-context-saved"] = `tokens=${answer.contextSaved}`
  if (answer._tag === "Stream") return sse(afterSaved(answer.body, saving), headers)
  return stream ? sse(responseToSse(answer.response), headers) : jsonResponse(200, answer.response, headers)
}

const render = (
  answer: Answer,
  context: ResponseContext,
  stream: boolean,
  remember: (response: Record<string, unknown>) => void,
  saving: () => Promise<void> | undefined,
  now: number
): Response => {
  const headers = answerHeaders(answer, now)
  if (answer._tag === "Stream" || stream) {
    const chunks = answer._tag === "Stream" ? answer.body : completionToSse(JSON.parse(answer.completion) as Completion)
    return sse(afterSaved(translateTypedSse(chunks, openAIStreamToResponses(context, remember)), saving), headers)
  }
  const response = toResponseObject(JSON.parse(answer.completion) as Completion, context)
  remember(response)
  return jsonResponse(200, response, headers)
}
