import { Context, Effect, Exit, FiberSet, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { entryIdOf } from "../cache/CacheEntry.ts"
import { CacheKey, type ExactKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { AppConfig } from "../config/Config.ts"
import { modelAliases, resolveAlias } from "../config/modelAliases.ts"
import { responsesOptimizer } from "../context/ContextOptimizer.ts"
import { NotCached, ProviderError } from "../domain/errors.ts"
import { type Answered as ProviderAnswered, type DirectRoute, Provider } from "../providers/Provider.ts"
import type { ResponsesSource } from "../providers/shared/ProviderDefinition.ts"
import { Coalescer, LeaderAbandoned, type Settle, type SharedAnswer } from "./Coalescer.ts"
import { type KeyedResponsesSource, responsesKey } from "./responsesKey.ts"
import { tapResponsesSse } from "./ResponsesSseTap.ts"

export interface PassThroughRequest {
  /** With `received` when the edge kept the bytes the body came as (a large one): the key is made of them. */
  readonly source: KeyedResponsesSource
  readonly stream: boolean
  readonly tenant: string
  /** The label of the caller's gateway key, when it has one: whose budget it spends. */
  readonly callerLabel?: string | undefined
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  readonly onlyIfCached?: boolean | undefined
}

export type PassThroughAnswer =
  | {
    readonly _tag: "Complete"
    readonly layer: "l1a" | "l3"
    readonly response: Record<string, unknown>
    readonly provider?: string
    readonly cacheKey?: string
    /** From L3: the prompt tokens the context optimiser kept from the provider (`X-Isartor-Context-Saved`). */
    readonly contextSaved?: number | undefined
  }
  | {
    readonly _tag: "Stream"
    readonly layer: "l3"
    readonly body: ReadableStream<Uint8Array>
    readonly provider: string
    readonly cacheKey?: string
    readonly contextSaved?: number | undefined
  }

/** Only a whole, finished answer is worth serving again. */
const cacheable = (response: Record<string, unknown>) => response.status === "completed" && response.background !== true

/** What the layer is built on: the provider's Responses call (optimised), the exact cache, the coalescer, budgets. */
interface Services {
  readonly responses: (
    source: ResponsesSource,
    stream: boolean,
    route: DirectRoute
  ) => Effect.Effect<
    ProviderAnswered<Record<string, unknown> | ReadableStream<Uint8Array>> & {
      readonly contextSaved?: number | undefined
    },
    ProviderError
  >
  readonly exactCache: ExactCache["Service"]
  readonly coalescer: Coalescer["Service"]
  readonly budgets: Budgets["Service"]
  readonly runInBackground: (effect: Effect.Effect<void>) => unknown
}

type Answered = Effect.Success<ReturnType<Services["responses"]>>
type Finished = (response: Record<string, unknown>) => void

/** Where one miss goes: its request, its key, who learns the finished response, and the entry id it is kept as. */
interface Miss {
  readonly request: PassThroughRequest
  readonly key: ExactKey
  readonly onFinished: Finished
  readonly cacheKey: { readonly cacheKey?: string }
}

// A write that fails costs the next hit, never this answer.
const remember = (services: Services, miss: Miss, response: Record<string, unknown>) =>
  miss.request.cacheWrite && cacheable(response)
    ? services.exactCache.store(miss.key, JSON.stringify(response)).pipe(Effect.ignore)
    : Effect.void

/** A whole answer: charged, kept, and then shared with the followers (released once L1a has it, as for chat). */
const wholeAnswer = (
  services: Services,
  miss: Miss,
  answered: Answered,
  value: Record<string, unknown>,
  settle: Settle
) => {
  miss.onFinished(value)
  const shared = { completion: JSON.stringify(value), provider: answered.provider }
  return services.budgets.settle(answered.hold, shared.completion).pipe(
    Effect.andThen(remember(services, miss, value)),
    Effect.ensuring(Effect.sync(() => settle(Exit.succeed(shared)))),
    Effect.as(
      {
        _tag: "Complete",
        layer: "l3",
        response: value,
        provider: answered.provider,
        contextSaved: answered.contextSaved,
        ...miss.cacheKey
      } satisfies PassThroughAnswer
    )
  )
}

/** A stream: out to the client as it comes; once completed, charged, kept and shared. */
const streamedAnswer = (
  services: Services,
  miss: Miss,
  answered: Answered,
  value: ReadableStream<Uint8Array>,
  settle: Settle
): PassThroughAnswer => {
  const answeredBy = answered.provider
  const body = tapResponsesSse(value, (end) => {
    if (end._tag === "Cancelled") return settle(Exit.fail(new LeaderAbandoned()))
    if (end._tag === "Failed") {
      return settle(Exit.fail(new ProviderError({ provider: answeredBy, reason: "Upstream", message: end.message })))
    }
    miss.onFinished(end.response)
    const shared = { completion: JSON.stringify(end.response), provider: answeredBy }
    // Corrected once it has ended; one that broke off keeps its projected charge, as on the chat path.
    services.runInBackground(
      services.budgets.settle(answered.hold, shared.completion).pipe(
        Effect.andThen(remember(services, miss, end.response)),
        Effect.ensuring(Effect.sync(() => settle(Exit.succeed(shared))))
      )
    )
  })
  return {
    _tag: "Stream",
    layer: "l3",
    body,
    provider: answeredBy,
    contextSaved: answered.contextSaved,
    ...miss.cacheKey
  }
}

/** The provider's answer, shared with identical requests that arrive while it is on its way (coalesced). */
const fromProvider = (
  services: Services,
  miss: Miss,
  routedTo: string | undefined
): Effect.Effect<PassThroughAnswer, ProviderError> => {
  const { request } = miss
  const route = { tenant: request.tenant, callerLabel: request.callerLabel, provider: routedTo }
  const lead = (settle: Settle) =>
    services.responses(request.source, request.stream, route).pipe(
      Effect.flatMap((answered) =>
        answered.value instanceof ReadableStream
          ? Effect.succeed(streamedAnswer(services, miss, answered, answered.value, settle))
          : wholeAnswer(services, miss, answered, answered.value, settle)
      )
    )
  const follow = (shared: SharedAnswer): PassThroughAnswer => {
    const response = JSON.parse(shared.completion) as Record<string, unknown>
    miss.onFinished(response)
    return { _tag: "Complete", layer: "l3", response, provider: shared.provider, ...miss.cacheKey }
  }
  return services.coalescer.share(`responses:${miss.key.key}`, lead, follow)
}

/** A request: an alias's model put in, then L1a, then the provider. */
const callWith = (
  services: Services,
  cacheKey: CacheKey["Service"],
  aliases: ReturnType<typeof modelAliases>
) =>
(asked: PassThroughRequest, onFinished: Finished): Effect.Effect<PassThroughAnswer, ProviderError | NotCached> =>
  Effect.suspend(() => {
    const resolved = resolveAlias(aliases, asked.source.body)
    // An alias's model in the body the upstream gets (and the cache key is made of), not the alias.
    const request = resolved.body === asked.source.body ? asked : {
      ...asked,
      source: { ...asked.source, body: resolved.body, text: JSON.stringify(resolved.body) }
    }
    const key = responsesKey(cacheKey, request.tenant, request.source)
    const miss = () =>
      request.onlyIfCached ? Effect.fail(new NotCached()) : fromProvider(services, {
        request,
        key,
        onFinished,
        cacheKey: request.cacheWrite ? { cacheKey: entryIdOf("l1a", key.key) } : {}
      }, resolved.provider)
    if (!request.cacheRead) return miss()
    return services.exactCache.lookup(key).pipe(
      Effect.map((text): PassThroughAnswer => {
        const response = JSON.parse(text) as Record<string, unknown>
        onFinished(response)
        return { _tag: "Complete", layer: "l1a", response, cacheKey: entryIdOf("l1a", key.key) }
      }),
      Effect.catchTags({ CacheMiss: miss, LayerUnavailable: miss })
    )
  })

/**
 * `/v1/responses` for a provider that speaks it (openai, azure): the client's request goes upstream as it came and
 * the provider's answer comes back as it was — reasoning items, built-in tools and their ids included — behind the
 * exact cache. The semantic cache and the local model are not asked: the upstream may hold state the gateway does
 * not see (`previous_response_id`, encrypted reasoning), so only an identical request is known to mean the same.
 */
export class ResponsesPassThrough extends Context.Service<ResponsesPassThrough, {
  /**
   * False when the provider a body goes to (its model's alias's, else the primary) does not speak the Responses API:
   * the route translates it instead.
   */
  readonly available: (body: Readonly<Record<string, unknown>>) => boolean
  /** `onFinished` gets the whole response once it is known (a stream's, when it completes). */
  readonly call: (
    request: PassThroughRequest,
    onFinished: (response: Record<string, unknown>) => void
  ) => Effect.Effect<PassThroughAnswer, ProviderError | NotCached>
}>()("isartor/ResponsesPassThrough") {
  static readonly layer = Layer.effect(
    ResponsesPassThrough,
    Effect.gen(function*() {
      const provider = yield* Provider
      const config = yield* AppConfig
      const aliases = modelAliases(config)
      const services: Services = {
        // L2.5: the body the provider is sent, shrunk when `context_optimizer` is on; the key is the client's.
        responses: responsesOptimizer(config.context_optimizer, provider.responses),
        exactCache: yield* ExactCache,
        coalescer: yield* Coalescer,
        budgets: yield* Budgets,
        runInBackground: yield* FiberSet.makeRuntime<never, void, never>()
      }
      return ResponsesPassThrough.of({
        available: (body) => provider.speaksResponses(resolveAlias(aliases, body).provider),
        call: callWith(services, yield* CacheKey, aliases)
      })
    })
  )
}
