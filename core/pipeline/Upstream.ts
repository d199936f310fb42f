import { Context, Effect, Exit, Layer } from "effect"
import { type BudgetHold, Budgets } from "../budgets/Budgets.ts"
import type { ExactKey } from "../cache/CacheKey.ts"
import { AppConfig } from "../config/Config.ts"
import { contextOptimizer } from "../context/ContextOptimizer.ts"
import type { Answer } from "../domain/Answer.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { isCacheable } from "../domain/Completion.ts"
import { messageOf, ProviderError } from "../domain/errors.ts"
import { withoutReceived } from "../domain/SourceRequest.ts"
import { withUsage } from "../domain/usageEstimate.ts"
import { countTokens } from "../observability/Metrics.ts"
import { usageOf } from "../observability/usage.ts"
import { Provider } from "../providers/Provider.ts"
import { CacheWrites } from "./CacheWrites.ts"
import { Coalescer, LeaderAbandoned, type Settle } from "./Coalescer.ts"
import { type StreamEnd, tapSse } from "./SseTap.ts"

/** Spent tokens are counted, not priced: the saved-cost estimate is what the metrics promise. */
const noPrice = () => undefined

/** What both kinds of call share, made once at wiring time. */
const makeCallParts = (
  provider: Provider["Service"],
  contextOptimizerOn: boolean,
  writes: CacheWrites["Service"],
  budgets: Budgets["Service"],
  context: Context.Context<never>
) => ({
  // L2.5: the provider is sent the request shrunk when `context_optimizer` is on; the caches keep it as asked.
  send: contextOptimizer(contextOptimizerOn, provider),
  writes,
  budgets,
  inBackground: Effect.runForkWith(context),
  spent: (completion: string) => countTokens(completion, "spent", noPrice, context)
})

type CallParts = ReturnType<typeof makeCallParts>

/** What the `l3.provider` span shows: who answered with which model, and the tokens of a whole answer. */
const annotate = (request: ChatRequest, answeredBy: string, completion?: string) => {
  const usage = completion === undefined ? undefined : usageOf(completion)
  return Effect.annotateCurrentSpan({
    "isartor.l3.provider": answeredBy,
    "isartor.l3.model": request.model,
    "isartor.l3.stream": request.stream,
    ...(usage ? { "isartor.l3.tokens_in": usage.input, "isartor.l3.tokens_out": usage.output } : {})
  })
}

/**
 * What happens when a leader's stream ends: its followers share a clean answer once the caches hold it, and are
 * released to try again when it failed or its client left.
 */
const onStreamEnd = (
  parts: CallParts,
  request: ChatRequest,
  key: ExactKey,
  settle: Settle,
  answeredBy: string,
  hold: BudgetHold | undefined
) =>
(end: StreamEnd): void => {
  if (end._tag === "Cancelled") return settle(Exit.fail(new LeaderAbandoned()))
  if (end._tag === "Failed") {
    return settle(Exit.fail(new ProviderError({ provider: answeredBy, reason: "Upstream", message: end.message })))
  }
  const completion = JSON.stringify(end.completion)
  parts.spent(completion)
  // Corrected once it has ended; one that broke off keeps its projected charge (the upstream may have billed it).
  if (hold !== undefined) parts.inBackground(parts.budgets.settle(hold, completion))
  // Kept with a usage (estimated when the client did not ask for one): a replay may be asked for it.
  const kept = withUsage(end.completion, completion, {
    messages: request.messages,
    tools: request.body.tools
  })
  // Followers wait until L1a has it: a request arriving meanwhile still follows, and none calls upstream again.
  parts.writes.rememberLater(
    request,
    key,
    kept,
    () => settle(Exit.succeed({ completion: kept, provider: answeredBy }))
  )
}

/**
 * What a stream's client is told when it breaks off. At module level: made where the request is in scope, it would
 * keep the request (its body's bytes, its parsed body) alive for the stream's whole life.
 */
const brokeOff = (error: unknown) => `upstream stream broke off: ${messageOf(error)}`

/** What a stream's end reads of its request (the caches' scope, the usage estimate): not the bytes it was sent as. */
const forTheEnd = (request: ChatRequest): ChatRequest =>
  request.source === undefined ? request : { ...request, source: withoutReceived(request.source) }

/** A streamed call: the client reads the stream as it arrives; its end decides what followers and caches get. */
const streamFrom = (parts: CallParts) => (request: ChatRequest, key: ExactKey, settle: Settle) =>
  Effect.map(parts.send.stream(request), ({ value, provider: answeredBy, hold, ...saved }): Answer => {
    const body = tapSse(value, onStreamEnd(parts, forTheEnd(request), key, settle, answeredBy, hold), brokeOff)
    return { _tag: "Stream", layer: "l3", provider: answeredBy, body, ...saved }
  }).pipe(Effect.tap(({ provider: answeredBy }) => annotate(request, answeredBy!)))

/** A whole answer: counted, its budget settled, written to the caches, then shared with the followers. */
const completeFrom = (parts: CallParts) => (request: ChatRequest, key: ExactKey, settle: Settle) =>
  Effect.flatMap(parts.send.complete(request), ({ value: completion, provider: answeredBy, hold, ...saved }) => {
    const shared = { completion: JSON.stringify(completion), provider: answeredBy }
    parts.spent(shared.completion)
    // Followers are released once L1a has the answer, as for a stream.
    const written = (isCacheable(completion) ? parts.writes.remember(request, key, shared.completion) : Effect.void)
      .pipe(Effect.ensuring(Effect.sync(() => settle(Exit.succeed(shared)))))
    return annotate(request, answeredBy, shared.completion).pipe(
      Effect.andThen(parts.budgets.settle(hold, shared.completion)),
      Effect.andThen(written),
      Effect.as({ _tag: "Complete", layer: "l3", ...shared, ...saved } satisfies Answer)
    )
  })

/**
 * The pipeline's last step, L3, coalesced: the first of several identical concurrent misses calls the provider
 * chain, the rest share its answer; a finished answer is written to the caches. A stream reaches its client as it
 * arrives, and its followers and the caches get it once it has ended cleanly.
 */
export class Upstream extends Context.Service<Upstream, {
  readonly call: (request: ChatRequest, key: ExactKey) => Effect.Effect<Answer, ProviderError>
}>()("isartor/Upstream") {
  static readonly layer = Layer.effect(
    Upstream,
    Effect.gen(function*() {
      const provider = yield* Provider
      const contextOptimizerOn = (yield* AppConfig).context_optimizer
      const coalescer = yield* Coalescer
      const parts = makeCallParts(
        provider,
        contextOptimizerOn,
        yield* CacheWrites,
        yield* Budgets,
        yield* Effect.context<never>()
      )
      const stream = streamFrom(parts)
      const complete = completeFrom(parts)
      return Upstream.of({
        call: (request, key) =>
          coalescer.share(
            key.key,
            (settle) => (request.stream ? stream(request, key, settle) : complete(request, key, settle)),
            (shared): Answer => ({ _tag: "Complete", layer: "l3", ...shared })
          )
      })
    })
  )
}
