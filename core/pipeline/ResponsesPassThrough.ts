import { Context, Effect, Exit, FiberSet, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { entryIdOf } from "../cache/CacheEntry.ts"
import { CacheKey, type ExactKey, withoutDelivery } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { AppConfig } from "../config/Config.ts"
import { modelAliases, resolveAlias } from "../config/modelAliases.ts"
import { responsesOptimizer } from "../context/ContextOptimizer.ts"
import { NotCached, ProviderError } from "../domain/errors.ts"
import { Provider } from "../providers/Provider.ts"
import type { ResponsesSource } from "../providers/shared/ProviderDefinition.ts"
import { Coalescer, LeaderAbandoned, type Settle, type SharedAnswer } from "./Coalescer.ts"
import { tapResponsesSse } from "./ResponsesSseTap.ts"

export interface PassThroughRequest {
  readonly source: ResponsesSource
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

/**
 * What of a Responses body can change the answer: not how it is delivered or filed (`withoutDelivery`), nor the ids
 * a client gives its input items (Codex numbers them anew each run).
 */
const keyedBody = (body: Readonly<Record<string, unknown>>) => {
  const fields = withoutDelivery(body)
  if (!Array.isArray(fields.input)) return fields
  return {
    ...fields,
    input: (fields.input as Array<unknown>).map((item) => {
      if (typeof item !== "object" || item === null || Array.isArray(item)) return item
      const { id: _id, ...rest } = item as Record<string, unknown>
      return rest
    })
  }
}

/** Only a whole, finished answer is worth serving again. */
const cacheable = (response: Record<string, unknown>) => response.status === "completed" && response.background !== true

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
      // L2.5: the body the provider is sent, shrunk when `context_optimizer` is on; the key is the client's.
      const responses = responsesOptimizer((yield* AppConfig).context_optimizer, provider.responses)
      const cacheKey = yield* CacheKey
      const exactCache = yield* ExactCache
      const coalescer = yield* Coalescer
      const budgets = yield* Budgets
      const aliases = modelAliases(yield* AppConfig)
      const runInBackground = yield* FiberSet.makeRuntime<never, void, never>()

      // A write that fails costs the next hit, never this answer.
      const remember = (request: PassThroughRequest, key: ExactKey, response: Record<string, unknown>) =>
        request.cacheWrite && cacheable(response)
          ? exactCache.store(key, JSON.stringify(response)).pipe(Effect.ignore)
          : Effect.void

      /** The provider's answer, shared with identical requests that arrive while it is on its way (coalesced). */
      const fromProvider = (
        request: PassThroughRequest,
        key: ExactKey,
        routedTo: string | undefined,
        onFinished: (response: Record<string, unknown>) => void
      ): Effect.Effect<PassThroughAnswer, ProviderError> => {
        const cacheKey = request.cacheWrite ? { cacheKey: entryIdOf("l1a", key.key) } : {}
        const route = { tenant: request.tenant, callerLabel: request.callerLabel, provider: routedTo }
        const lead = (settle: Settle) =>
          responses(request.source, request.stream, route).pipe(Effect.flatMap((answered) => {
            const { provider: answeredBy, value, contextSaved } = answered
            if (!(value instanceof ReadableStream)) {
              onFinished(value)
              const shared = { completion: JSON.stringify(value), provider: answeredBy }
              // Followers are released once L1a has the answer, as on the chat path.
              return budgets.settle(answered.hold, shared.completion).pipe(
                Effect.andThen(remember(request, key, value)),
                Effect.ensuring(Effect.sync(() => settle(Exit.succeed(shared)))),
                Effect.as(
                  {
                    _tag: "Complete",
                    layer: "l3",
                    response: value,
                    provider: answeredBy,
                    contextSaved,
                    ...cacheKey
                  } satisfies PassThroughAnswer
                )
              )
            }
            const body = tapResponsesSse(value, (end) => {
              if (end._tag === "Cancelled") return settle(Exit.fail(new LeaderAbandoned()))
              if (end._tag === "Failed") {
                return settle(
                  Exit.fail(new ProviderError({ provider: answeredBy, reason: "Upstream", message: end.message }))
                )
              }
              onFinished(end.response)
              const shared = { completion: JSON.stringify(end.response), provider: answeredBy }
              // Corrected once it has ended; one that broke off keeps its projected charge, as on the chat path.
              runInBackground(
                budgets.settle(answered.hold, shared.completion).pipe(
                  Effect.andThen(remember(request, key, end.response)),
                  Effect.ensuring(Effect.sync(() => settle(Exit.succeed(shared))))
                )
              )
            })
            return Effect.succeed<PassThroughAnswer>({
              _tag: "Stream",
              layer: "l3",
              body,
              provider: answeredBy,
              contextSaved,
              ...cacheKey
            })
          }))
        const follow = (shared: SharedAnswer): PassThroughAnswer => {
          const response = JSON.parse(shared.completion) as Record<string, unknown>
          onFinished(response)
          return { _tag: "Complete", layer: "l3", response, provider: shared.provider, ...cacheKey }
        }
        return coalescer.share(`responses:${key.key}`, lead, follow)
      }

      return ResponsesPassThrough.of({
        available: (body) => provider.speaksResponses(resolveAlias(aliases, body).provider),
        call: (asked, onFinished) =>
          Effect.suspend(() => {
            const resolved = resolveAlias(aliases, asked.source.body)
            // An alias's model in the body the upstream gets (and the cache key is made of), not the alias.
            const request = resolved.body === asked.source.body ? asked : {
              ...asked,
              source: { ...asked.source, body: resolved.body, text: JSON.stringify(resolved.body) }
            }
            const key = cacheKey.exactKey({
              family: "responses-upstream",
              tenant: request.tenant,
              body: keyedBody(request.source.body)
            })
            const miss = () =>
              request.onlyIfCached
                ? Effect.fail(new NotCached())
                : fromProvider(request, key, resolved.provider, onFinished)
            if (!request.cacheRead) return miss()
            return exactCache.lookup(key).pipe(
              Effect.map((text): PassThroughAnswer => {
                const response = JSON.parse(text) as Record<string, unknown>
                onFinished(response)
                return { _tag: "Complete", layer: "l1a", response, cacheKey: entryIdOf("l1a", key.key) }
              }),
              Effect.catchTags({ CacheMiss: miss, LayerUnavailable: miss })
            )
          })
      })
    })
  )
}
