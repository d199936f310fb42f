import { Context, Effect, Layer, Redacted } from "effect"
import { AppConfig } from "./Config.ts"
import type { AppConfigShape } from "./ConfigSpec.ts"
import { ConfigInvalid } from "./errors.ts"
import type { ProviderClient } from "./providers/ProviderDefinition.ts"
import { isProviderId, providers } from "./providers/registry.ts"

/** L3: the cloud provider chosen by `llm_provider`. */
export class Provider extends Context.Service<Provider, ProviderClient>()("isartor/Provider") {
  /**
   * Start-up checks: an unknown provider or a malformed key stops the gateway; a missing key only warns,
   * and uncached requests then get a 502 that says so.
   */
  static readonly check = (config: AppConfigShape): Effect.Effect<ReadonlyArray<string>, ConfigInvalid> => {
    const id = config.llm_provider
    if (!isProviderId(id)) {
      return Effect.fail(new ConfigInvalid({
        message: `invalid configuration:\n  ISARTOR__LLM_PROVIDER = ${JSON.stringify(id)}: expected one of ${
          Object.keys(providers).join(", ")
        }`
      }))
    }
    const definition = providers[id]
    const key = Redacted.value(config.external_llm_api_key)
    if (key === "") {
      return Effect.succeed(definition.requiresKey
        ? [`no API key for provider ${id}: set ISARTOR__EXTERNAL_LLM_API_KEY; until then requests the caches cannot answer get 502`]
        : [])
    }
    const problem = definition.checkKey(key)
    return problem === undefined
      ? Effect.succeed([])
      : Effect.fail(new ConfigInvalid({ message: `invalid configuration:\n  ISARTOR__EXTERNAL_LLM_API_KEY: ${problem}` }))
  }

  static readonly layer = Layer.effect(
    Provider,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const id = config.llm_provider
      // Provider.check ran at start-up, so an unknown id here is a wiring bug, not a user error.
      if (!isProviderId(id)) return yield* Effect.die(new Error(`unknown provider ${id}: Provider.check was skipped`))
      return providers[id].make({
        url: config.external_llm_url,
        apiKey: config.external_llm_api_key,
        timeoutMs: config.l3_timeout_secs * 1000
      })
    })
  )
}
