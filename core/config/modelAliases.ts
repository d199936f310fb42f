import { Redacted } from "effect"
import type { ModelAlias } from "../domain/ChatRequest.ts"
import { type AppConfigShape, type ProviderId, providerIds } from "./ConfigSpec.ts"

const configKeyOf = (id: ProviderId) => id.replace("-", "_") as keyof AppConfigShape["providers"]

/**
 * Whether `provider/model` names one of the gateway's providers: a provider id with settings of its own (the primary,
 * or a `[providers.<id>]` table with a key or a URL). Anything else is one model name (OpenRouter's `openai/gpt-4o`)
 * and goes to the primary as it is.
 */
const routedProvider = (config: AppConfigShape, prefix: string): ProviderId | undefined => {
  const id = providerIds.find((candidate) => candidate === prefix)
  if (id === undefined) return undefined
  if (id === config.llm_provider) return id
  const table = config.providers[configKeyOf(id)]
  return Redacted.value(table.api_key) !== "" || table.api_keys.length > 0 || table.url !== "" ? id : undefined
}

/**
 * `[model_aliases]`, resolved once: each name's model and, for `provider/model`, the provider it goes to (none when
 * that is the primary: the usual chain serves it).
 */
export const modelAliases = (config: AppConfigShape): ReadonlyMap<string, ModelAlias> =>
  new Map(Object.entries(config.model_aliases).map(([name, target]) => [name, modelTarget(config, target)]))

/** What `model` or `provider/model` names: the model, and the provider when it is not the primary. */
export const modelTarget = (config: AppConfigShape, target: string): ModelAlias => {
  const slash = target.indexOf("/")
  const provider = slash > 0 ? routedProvider(config, target.slice(0, slash)) : undefined
  if (provider === undefined) return { model: target }
  const model = target.slice(slash + 1)
  return provider === config.llm_provider ? { model } : { model, provider }
}

/** `[routing]`, resolved once: each tier's model and provider, as an alias's are. */
export const routingRules = (config: AppConfigShape): ReadonlyMap<string, ModelAlias> =>
  new Map(
    Object.entries(config.routing).flatMap(([tier, target]) =>
      target === undefined ? [] : [[tier, modelTarget(config, target)] as const]
    )
  )

/**
 * A body passed on as sent (Responses, embeddings) whose `model` is an alias: the alias's model in its place, before
 * any cache key is made of it, and the provider it names.
 */
export const resolveAlias = (
  aliases: ReadonlyMap<string, ModelAlias>,
  body: Readonly<Record<string, unknown>>
): { readonly body: Readonly<Record<string, unknown>>; readonly provider?: string | undefined } => {
  const alias = typeof body.model === "string" ? aliases.get(body.model) : undefined
  return alias === undefined ? { body } : { body: { ...body, model: alias.model }, provider: alias.provider }
}
