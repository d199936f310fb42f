import { Cause, type Effect, Exit } from "effect"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { type ChatRequest, fromOpenAIBody, type RequestContext } from "../domain/ChatRequest.ts"
import { type Completion, firstText } from "../domain/Completion.ts"
import type { CacheWrites } from "../pipeline/CacheWrites.ts"
import type { Pipeline } from "../pipeline/Pipeline.ts"
import type { UsageLedger } from "../usage/UsageLedger.ts"
import type { UsageTotals } from "../usage/UsageRow.ts"

/**
 * What the MCP tools offer an agent that cannot point its model at the gateway (Claude Desktop, Cursor's agent): the
 * caches, read and written as the gateway reads and writes them for the same question asked on
 * `/v1/chat/completions`, in the caller's scope; and the gateway's health and today's savings. No wire format here:
 * core/mcp/server.ts speaks MCP.
 */

/** A question as an agent asks it: the user's prompt, and the system prompt and model it was asked with. */
export interface Question {
  readonly prompt: string
  readonly system?: string | undefined
  readonly model?: string | undefined
}

export type Lookup =
  | {
    readonly found: true
    readonly answer: string
    readonly layer: string
    readonly model: string
    /** The entry that answered, as `X-Isartor-Cache-Key` names it. */
    readonly cache_key?: string | undefined
    /** On an L1b hit: how close the cached question is. */
    readonly similarity?: number | undefined
  }
  | { readonly found: false; readonly model: string; readonly reason: string }

export type Stored =
  | { readonly stored: true; readonly model: string; readonly cache_key: string }
  | { readonly stored: false; readonly model: string; readonly reason: string }

export interface GatewayStatus {
  readonly health: Readonly<Record<string, unknown>>
  /** Today's totals (UTC) from the usage ledger, all callers; absent when the ledger is off. */
  readonly today?: UsageTotals & { readonly deflection_rate: number }
}

export interface GatewayTools {
  readonly lookup: (question: Question, context: RequestContext) => Promise<Lookup>
  readonly store: (question: Question & { readonly answer: string }, context: RequestContext) => Promise<Stored>
  readonly status: () => Promise<GatewayStatus>
}

export interface GatewayToolsDependencies {
  readonly config: AppConfigShape
  readonly pipeline: Pipeline["Service"]
  readonly cacheWrites: CacheWrites["Service"]
  readonly usage?: UsageLedger["Service"] | undefined
  /** What `/health` answers. */
  readonly health: () => Promise<Readonly<Record<string, unknown>>>
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  readonly now: () => number
}

const DAY_MS = 24 * 60 * 60 * 1000
const DEFLECTING = ["l1a", "l1b", "l2"] as const
const encoder = new TextEncoder()

/** The Chat Completions body an OpenAI client sends for the question: the request whose entries the tools share. */
const bodyOf = (question: Question): Record<string, unknown> => ({
  ...(question.model === undefined || question.model.trim() === "" ? {} : { model: question.model }),
  messages: [
    ...(question.system === undefined || question.system === "" ? [] : [{ role: "system", content: question.system }]),
    { role: "user", content: question.prompt }
  ]
})

/** The question as the gateway decodes the same request on `/v1/chat/completions`. */
const requestOf = (question: Question, context: RequestContext): Exit.Exit<ChatRequest, { message: string }> => {
  const body = bodyOf(question)
  return fromOpenAIBody(body, { ...context, received: { body: { text: JSON.stringify(body) }, headers: {} } })
}

/** `lookup`: the caches only, as `only-if-cached` reads them; a hit is counted in the ledger. */
const lookupWith = (deps: GatewayToolsDependencies): GatewayTools["lookup"] => async (question, context) => {
  // L1a, then L1b, and never further: `only-if-cached` is that path through the pipeline.
  const decoded = requestOf(question, { ...context, onlyIfCached: true })
  if (Exit.isFailure(decoded)) return { found: false, model: question.model ?? "", reason: messageOf(decoded) }
  const request = decoded.value
  const started = performance.now()
  const exit = await deps.run(deps.pipeline.handle(request))
  if (Exit.isFailure(exit)) {
    const reason = request.cacheRead ? "no cached answer for this question" : "Cache-Control: no-cache"
    return { found: false, model: request.model, reason }
  }
  const answer = exit.value
  // A hit saved the agent a model call: the ledger counts it as a chat request's hit would be (a miss answered
  // nothing, and the agent's model is asked elsewhere).
  deps.usage?.recordNote(
    {
      tenant: request.tenant,
      modelAsked: request.model,
      body: request.body,
      label: context.callerLabel,
      completion: answer._tag === "Complete" ? answer.completion : undefined
    },
    "mcp",
    answer.layer,
    "",
    200,
    performance.now() - started,
    deps.now()
  )
  const completion = answer._tag === "Complete" ? JSON.parse(answer.completion) as Completion : undefined
  return {
    found: true,
    answer: completion === undefined ? "" : firstText(completion),
    layer: answer.layer,
    model: request.model,
    cache_key: answer.cacheKey,
    ...(answer._tag === "Complete" && answer.similarity !== undefined ? { similarity: answer.similarity } : {})
  }
}

/** `store`: the agent's answer kept as the caches keep an upstream's, under the same question's key. */
const storeWith = (deps: GatewayToolsDependencies): GatewayTools["store"] => async (question, context) => {
  const decoded = requestOf(question, context)
  if (Exit.isFailure(decoded)) return { stored: false, model: question.model ?? "", reason: messageOf(decoded) }
  const request = decoded.value
  if (!request.cacheWrite) return { stored: false, model: request.model, reason: "Cache-Control: no-store" }
  const completion = JSON.stringify(completionOf(request.model, question.answer, deps.now()))
  // The caches would skip it without a word; the agent is told why.
  if (encoder.encode(completion).length > deps.config.cache_max_entry_bytes) {
    return {
      stored: false,
      model: request.model,
      reason: `the answer is larger than ${deps.config.cache_max_entry_bytes} bytes (cache_max_entry_bytes)`
    }
  }
  const key = deps.pipeline.exactKey(request)
  await deps.run(deps.cacheWrites.remember(request, key, completion))
  return { stored: true, model: request.model, cache_key: `l1a:${key.key}` }
}

/** `status`: what `/health` answers, and today's totals from the ledger when it is on. */
const statusWith = (deps: GatewayToolsDependencies): GatewayTools["status"] => async () => {
  const health = await deps.health()
  if (deps.usage === undefined) return { health }
  const now = deps.now()
  const exit = await deps.run(deps.usage.totals({ since: now - (now % DAY_MS), until: now + 1 }))
  if (Exit.isFailure(exit)) return { health }
  const today = exit.value
  const deflected = DEFLECTING.reduce((sum, layer) => sum + (today.layers[layer] ?? 0), 0)
  return { health, today: { ...today, deflection_rate: today.requests === 0 ? 0 : deflected / today.requests } }
}

export const makeGatewayTools = (deps: GatewayToolsDependencies): GatewayTools => ({
  lookup: lookupWith(deps),
  store: storeWith(deps),
  status: statusWith(deps)
})

/** The stored answer, as an upstream's whole answer is kept: an OpenAI `chat.completion`. */
const completionOf = (model: string, text: string, now: number): Completion => ({
  id: `chatcmpl-isartor-${crypto.randomUUID()}`,
  object: "chat.completion",
  created: Math.floor(now / 1000),
  model,
  choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }]
})

const messageOf = (failed: Exit.Failure<unknown, { readonly message: string }>): string => {
  const error = Cause.findErrorOption(failed.cause)
  return error._tag === "Some" ? error.value.message : "bad request"
}
