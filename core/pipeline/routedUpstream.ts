import { Effect } from "effect"
import { type CacheKey, type ExactKey, sentBeforeNewModel } from "../cache/CacheKey.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { Answer } from "../domain/Answer.ts"
import type { ChatRequest, ModelAlias } from "../domain/ChatRequest.ts"
import type { ProviderError } from "../domain/errors.ts"
import { movesOn } from "../providers/Provider.ts"
import type { LayerCalls, Wiring } from "./layerCalls.ts"

/** A routing rule's target that cannot answer leaves the request to the default chain, whatever the reason. */
const failsOpen = (error: ProviderError) =>
  movesOn(error) || error.reason === "NotFound" || error.reason === "Unauthorized" ||
  error.reason === "BudgetExceeded"

/** The request for the model a tier's rule names, sent to the rule's provider and remembering the tier. */
const routedRequest = (request: ChatRequest, rule: ModelAlias, tier: string): ChatRequest => {
  const model = rule.model
  const source = request.source
  return {
    ...request,
    body: { ...request.body, model },
    model,
    provider: rule.provider,
    routedTier: tier,
    // Anthropic's and OpenAI's bodies name the model (the upstream is sent the text); Gemini's path does.
    source: source === undefined || source.format === "gemini" ? source : {
      ...source,
      body: { ...source.body, model },
      text: JSON.stringify({ ...source.body, model })
    }
  }
}

/**
 * L3 for a request L2 classified: the model its tier's `[routing]` rule names — a request for that model, whose
 * exact key is the key of the same body sent for that model directly (a large Anthropic body's made of the
 * client's bytes and the model, see `sentBeforeNewModel`), so its answers are shared with the model's own — else,
 * or when that model fails, the default chain.
 */
export const makeRoutedUpstream = (
  config: AppConfigShape,
  rules: ReadonlyMap<string, ModelAlias>,
  cacheKey: CacheKey["Service"],
  calls: Pick<LayerCalls, "lookupExact" | "callUpstream">,
  wiring: Pick<Wiring, "fallThrough" | "saved">
) => {
  const { lookupExact, callUpstream } = calls
  const { fallThrough, saved } = wiring
  return (request: ChatRequest, key: ExactKey, tier: string): Effect.Effect<Answer, ProviderError> => {
    const rule = rules.get(tier)
    if (rule === undefined) return callUpstream(request, key)
    const routed = routedRequest(request, rule, tier)
    const routedKey = cacheKey.exactKey({ ...routed, sent: sentBeforeNewModel(request) })
    const by = {
      tier,
      to: `${rule.provider ?? config.llm_provider}/${rule.model}`,
      from: { provider: request.provider ?? config.llm_provider, model: request.model }
    }
    return lookupExact(routed, routedKey).pipe(
      Effect.map(saved),
      Effect.catchTags(fallThrough(() => callUpstream(routed, routedKey))),
      Effect.map((answer): Answer => ({ ...answer, routed: by })),
      Effect.catchTag(
        "ProviderError",
        (error) => failsOpen(error) ? callUpstream(request, key) : Effect.fail(error)
      )
    )
  }
}
