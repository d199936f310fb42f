import { Context, Effect, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { entryIdOf } from "../cache/CacheEntry.ts"
import { CacheKey } from "../cache/CacheKey.ts"
import { ExactCache } from "../cache/exact/ExactCache.ts"
import { AppConfig } from "../config/Config.ts"
import { modelAliases, resolveAlias } from "../config/modelAliases.ts"
import { NotCached, type ProviderError } from "../domain/errors.ts"
import { Provider } from "../providers/Provider.ts"

export interface EmbeddingsRequest {
  /** The client's `/v1/embeddings` body, as sent (model filled in). */
  readonly body: Readonly<Record<string, unknown>>
  readonly tenant: string
  /** The label of the caller's gateway key, when it has one: whose budget it spends. */
  readonly callerLabel?: string | undefined
  readonly cacheRead: boolean
  readonly cacheWrite: boolean
  /** `Cache-Control: only-if-cached`: from L1a, or `NotCached`. */
  readonly onlyIfCached?: boolean | undefined
}

export interface EmbeddingsAnswer {
  /** The provider's JSON answer, serialised. */
  readonly body: string
  readonly layer: "l1a" | "l3"
  readonly provider?: string
  /** The L1a entry it came from or was stored under. */
  readonly cacheKey?: string
}

/**
 * `POST /v1/embeddings`: L1a, then the provider (its model's alias's, else the primary; within the budgets). Embeddings
 * are deterministic, so an exact hit is as good as the provider's answer; there is no semantic layer (a near question
 * is not a near vector) and no local model.
 */
export class Embeddings extends Context.Service<Embeddings, {
  readonly create: (request: EmbeddingsRequest) => Effect.Effect<EmbeddingsAnswer, ProviderError | NotCached>
}>()("isartor/Embeddings") {
  static readonly layer = Layer.effect(
    Embeddings,
    Effect.gen(function*() {
      const cacheKey = yield* CacheKey
      const exactCache = yield* ExactCache
      const provider = yield* Provider
      const budgets = yield* Budgets
      const aliases = modelAliases(yield* AppConfig)

      const fromProvider = (
        request: EmbeddingsRequest,
        key: ReturnType<typeof cacheKey.exactKey>,
        routedTo: string | undefined
      ) =>
        provider.embed(request.body, { ...request, provider: routedTo }).pipe(Effect.flatMap((answered) => {
          const { value, provider: answeredBy } = answered
          const body = JSON.stringify(value)
          const answer: EmbeddingsAnswer = {
            body,
            layer: "l3",
            provider: answeredBy,
            ...(request.cacheWrite ? { cacheKey: entryIdOf("l1a", key.key) } : {})
          }
          // A write that fails costs the next hit, never this answer.
          return budgets.settle(answered.hold, body).pipe(
            Effect.andThen(request.cacheWrite ? exactCache.store(key, body).pipe(Effect.ignore) : Effect.void),
            Effect.as(answer)
          )
        }))

      return Embeddings.of({
        create: (asked) => {
          const resolved = resolveAlias(aliases, asked.body)
          const request = { ...asked, body: resolved.body }
          const key = cacheKey.exactKey({ family: "embeddings", tenant: request.tenant, body: request.body })
          const miss = () =>
            request.onlyIfCached ? Effect.fail(new NotCached()) : fromProvider(request, key, resolved.provider)
          if (!request.cacheRead) return miss()
          return exactCache.lookup(key).pipe(
            Effect.map((body): EmbeddingsAnswer => ({ body, layer: "l1a", cacheKey: entryIdOf("l1a", key.key) })),
            Effect.catchTags({ CacheMiss: miss, LayerUnavailable: miss })
          )
        }
      })
    })
  )
}
