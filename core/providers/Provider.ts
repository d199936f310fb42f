import { Clock, Context, Effect, Layer } from "effect"
import { Budgets } from "../budgets/Budgets.ts"
import { type Spend, spendOfChat, spendOfEmbeddings, spendOfResponses } from "../budgets/spend.ts"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import type { Completion } from "../domain/Completion.ts"
import type { ConfigInvalid, ProviderError } from "../domain/errors.ts"
import { transportLimits } from "../transport/http.ts"
import {
  type Answered,
  type Call,
  type CallLimits,
  directAnswer,
  type DirectApi,
  type DirectRoute,
  firstAnswer
} from "./chain/failover.ts"
import { chainFor, checkChain, makeLinks, watchLinks } from "./chain/links.ts"
import type { ProviderStatus } from "./health/ProviderLink.ts"
import { passThroughProvider } from "./passThrough/PassThrough.ts"
import type { ResponsesSource } from "./shared/ProviderDefinition.ts"

export { type Answered, type DirectRoute, movesOn } from "./chain/failover.ts"

/** L3: the configured provider with retries, then the fallbacks in order. */
export class Provider extends Context.Service<Provider, {
  readonly id: string
  readonly configured: boolean
  readonly chain: ReadonlyArray<string>
  readonly complete: (request: ChatRequest) => Effect.Effect<Answered<Completion>, ProviderError>
  readonly stream: (request: ChatRequest) => Effect.Effect<Answered<ReadableStream<Uint8Array>>, ProviderError>
  /** Whether the provider a Responses request goes to (its alias's, else the primary) speaks the Responses API. */
  readonly speaksResponses: (provider: string | undefined) => boolean
  /**
   * The Responses API passed through to the provider its model's alias named, else the primary — within its budgets,
   * behind its breaker and key pool, with retries but no fallback (the client's body means what it says only to a
   * provider that speaks it). A provider that does not speak it is a 400: `/v1/responses` is translated instead.
   */
  readonly responses: (
    source: ResponsesSource,
    stream: boolean,
    route: DirectRoute
  ) => Effect.Effect<Answered<Record<string, unknown> | ReadableStream<Uint8Array>>, ProviderError>
  /**
   * OpenAI embeddings from the provider its model's alias named, else the primary, as `responses` goes: no fallback,
   * since another provider's vectors come from another model and would not compare with the ones the client holds.
   */
  readonly embed: (
    body: Readonly<Record<string, unknown>>,
    route: DirectRoute
  ) => Effect.Effect<Answered<Record<string, unknown>>, ProviderError>
  /**
   * The primary provider's own count of an Anthropic Messages body; `undefined` when it has none (it does not
   * speak the Anthropic API), and the caller estimates instead.
   */
  readonly countTokens: ((body: Readonly<Record<string, unknown>>) => Effect.Effect<number, ProviderError>) | undefined
  /** Each provider's breaker, retry budget and keys (masked), for `/health` and `/admin/providers`. */
  readonly status: Effect.Effect<ReadonlyArray<ProviderStatus>>
}>()("isartor/Provider") {
  /** Start-up checks of every provider the configuration names: problems stop the gateway, warnings do not. */
  static readonly check: (config: AppConfigShape) => Effect.Effect<ReadonlyArray<string>, ConfigInvalid> = checkChain

  static readonly layer = Layer.effect(
    Provider,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const limits: CallLimits = {
        budgets: yield* Budgets,
        policy: { maxRetries: config.l3_max_retries, baseDelayMs: config.l3_retry_base_ms, maxDelayMs: 60_000 }
      }
      const links = makeLinks(config, yield* Clock.Clock)
      yield* watchLinks(config, links)
      const chain = links.filter((link) => link.role !== "alias")
      const primary = chain[0]!
      const routeOf = chainFor(links)
      const answer = <A>(request: ChatRequest, call: Call<A>) =>
        firstAnswer(limits, routeOf(request), request, spendOfChat(request), call)
      /** The link a Responses or embeddings request goes to: its alias's provider, else the primary. */
      const directLink = (provider: string | undefined) =>
        (provider === undefined ? undefined : links.find((link) => link.id === provider)) ?? primary
      const direct = <A>(route: DirectRoute, spend: Spend, api: DirectApi, call: Call<A>) => {
        const link = directLink(route.provider)
        return directAnswer(limits, link, link === primary, spend, api, call)
      }
      const countTokens = primary.client.countTokens
      // A request `isartor proxy` read goes to its own origin; every other one to the chain.
      const passThrough = passThroughProvider(transportLimits(config))
      return Provider.of({
        id: primary.id,
        configured: primary.configured,
        chain: chain.map((link) => link.id),
        complete: (request) =>
          passThrough.orChain(
            (origin) => passThrough.complete(request, origin),
            () => answer(request, (client) => client.complete(request))
          ),
        stream: (request) =>
          passThrough.orChain(
            (origin) => passThrough.stream(request, origin),
            () => answer(request, (client) => client.stream(request))
          ),
        countTokens: countTokens === undefined
          ? undefined
          : (body) => primary.attempt((client) => client.countTokens!(body)),
        speaksResponses: (provider) => directLink(provider).client.responses !== undefined,
        responses: (source, stream, route) =>
          direct(route, spendOfResponses(source.body, route), {
            speaks: (client) => client.responses !== undefined,
            missing: "does not speak the Responses API"
          }, (client) => client.responses!(source, stream)),
        embed: (body, route) =>
          direct(route, spendOfEmbeddings(body, route), {
            speaks: (client) => client.embed !== undefined,
            missing: "has no embeddings API; /v1/embeddings needs an OpenAI-compatible provider"
          }, (client) => client.embed!(body)),
        status: Effect.forEach(links, (link) => link.status)
      })
    })
  )
}
