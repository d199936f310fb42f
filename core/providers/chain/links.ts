import { type Clock, Duration, Effect, Redacted, Schedule } from "effect"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import { modelAliases, routingRules } from "../../config/modelAliases.ts"
import type { PoolKeySpec } from "../../config/poolLeaves.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { ConfigInvalid } from "../../domain/errors.ts"
import { transportLimits } from "../../transport/http.ts"
import { makeProviderLink, type ProviderLink, type ProviderStatus } from "../health/ProviderLink.ts"
import { isProviderId, providerConfigKey, type ProviderId, providers } from "../registry.ts"
import type { ProviderSettings } from "../shared/ProviderDefinition.ts"

interface Link {
  readonly id: ProviderId
  readonly role: ProviderStatus["role"]
  readonly settings: Omit<ProviderSettings, "apiKey">
  /** The plain key first (when set), then the pool's others. */
  readonly keys: ReadonlyArray<PoolKeySpec>
  /** Whether the first of `keys` is the plain key (`…_API_KEY`) rather than the first of the list (`…_API_KEYS`). */
  readonly plainKey: boolean
}

const fallbackIds = (config: AppConfigShape) => config.fallback_providers

const pooled = (key: Redacted.Redacted<string>, more: ReadonlyArray<PoolKeySpec>): ReadonlyArray<PoolKeySpec> =>
  Redacted.value(key) === "" ? more : [{ key, label: undefined, priority: undefined }, ...more]

/** A provider that serves as a fallback, or that only an alias names: its `[providers.<id>]` table. */
const tableLink = (config: AppConfigShape, id: ProviderId, role: Link["role"]): Link => {
  const table = config.providers[providerConfigKey(id)]
  const keyVariable = `ISARTOR__PROVIDERS__${providerConfigKey(id).toUpperCase()}__API_KEY`
  return {
    id,
    role,
    settings: {
      url: table.url,
      keyVariable,
      limits: transportLimits(config),
      model: table.model || undefined,
      config
    },
    keys: pooled(table.api_key, table.api_keys),
    plainKey: Redacted.value(table.api_key) !== ""
  }
}

/** The primary provider, then each fallback, then any provider only an alias names, with their settings. */
const linksOf = (config: AppConfigShape): Array<Link> => {
  const primary = config.llm_provider
  const chain: Array<Link> = [
    {
      id: primary,
      role: "primary",
      settings: {
        url: config.external_llm_url,
        keyVariable: "ISARTOR__EXTERNAL_LLM_API_KEY",
        limits: transportLimits(config),
        model: undefined,
        config
      },
      keys: pooled(config.external_llm_api_key, config.external_llm_api_keys),
      plainKey: Redacted.value(config.external_llm_api_key) !== ""
    },
    ...fallbackIds(config).filter(isProviderId).map((id) => tableLink(config, id, "fallback"))
  ]
  const aliased = [...modelAliases(config).values(), ...routingRules(config).values()].flatMap(({ provider }) =>
    provider !== undefined && isProviderId(provider) && !chain.some((link) => link.id === provider) ? [provider] : []
  )
  return [...chain, ...[...new Set(aliased)].map((id) => tableLink(config, id, "alias"))]
}

/** What is wrong with a link's keys: a missing one warns, a malformed one is a problem. */
const keyFindings = (link: Link, problems: Array<string>, warnings: Array<string>) => {
  const definition = providers[link.id]
  const variable = link.settings.keyVariable
  if (link.keys.length === 0 && definition.requiresKey) {
    warnings.push(
      link.role === "primary"
        ? `no API key for provider ${link.id}: set ${variable}; until then requests the caches cannot answer get 502`
        : `no API key for ${link.role} provider ${link.id}: set ${variable}; it is skipped until then`
    )
  }
  for (const [position, { key }] of link.keys.entries()) {
    const keyProblem = definition.checkKey(Redacted.value(key))
    // A pooled key is named by its place in the list, never by its value.
    const listed = position - (link.plainKey ? 1 : 0)
    if (keyProblem) problems.push(`${variable}${listed < 0 ? "" : `S (key ${listed + 1})`}: ${keyProblem}`)
  }
}

/**
 * Start-up checks: an unknown provider, a malformed key or a provider setting of the wrong shape stops the
 * gateway; a missing key only warns, and uncached requests then get a 502 that says so.
 */
export const checkChain = (config: AppConfigShape): Effect.Effect<ReadonlyArray<string>, ConfigInvalid> => {
  const problems: Array<string> = []
  const warnings: Array<string> = []
  const known = Object.keys(providers).join(", ")
  for (const id of fallbackIds(config)) {
    if (!isProviderId(id)) {
      problems.push(`ISARTOR__FALLBACK_PROVIDERS: ${JSON.stringify(id)} is not a provider; expected ${known}`)
    }
  }
  if (problems.length === 0) {
    for (const link of linksOf(config)) keyFindings(link, problems, warnings)
    for (const id of new Set([config.llm_provider, ...fallbackIds(config).filter(isProviderId)])) {
      problems.push(...(providers[id as ProviderId].checkSettings?.(config) ?? []))
    }
  }
  return problems.length > 0
    ? Effect.fail(new ConfigInvalid({ message: `invalid configuration:\n  ${problems.join("\n  ")}` }))
    : Effect.succeed(warnings)
}

/** Every provider the configuration names, as a link with its keys, breaker and retry budget. */
export const makeLinks = (config: AppConfigShape, clock: Clock.Clock): ReadonlyArray<ProviderLink> =>
  linksOf(config).map((link) =>
    makeProviderLink({
      ...link,
      definition: providers[link.id],
      strategy: config.key_strategy,
      cooldownMs: config.key_cooldown_secs * 1000,
      breakerCooloffMs: config.breaker_cooloff_secs * 1000,
      retryBudgetRatio: config.retry_budget_ratio,
      retryBudgetMinRetries: config.retry_budget_min_retries,
      clock
    })
  )

/** Every provider's breaker gauge from the start, at closed; and the background health check when it is on. */
export const watchLinks = (config: AppConfigShape, links: ReadonlyArray<ProviderLink>) =>
  Effect.gen(function*() {
    yield* Effect.forEach(links, (link) => link.status, { discard: true })
    if (config.provider_health_check_secs > 0) {
      yield* Effect.forkScoped(
        Effect.forEach(links, (link) => link.check, { discard: true }).pipe(
          Effect.repeat(Schedule.spaced(Duration.seconds(config.provider_health_check_secs)))
        )
      )
    }
  })

/** The links a request goes through: the default chain, or the provider its alias named, then the fallbacks. */
export const chainFor = (links: ReadonlyArray<ProviderLink>) => {
  const chain = links.filter((link) => link.role !== "alias")
  const primary = chain[0]!
  return (request: ChatRequest): ReadonlyArray<ProviderLink> => {
    const named = request.provider === undefined ? undefined : links.find((link) => link.id === request.provider)
    // A routing rule's target alone: when it fails, the pipeline sends the original request down the default chain.
    if (request.routedTier !== undefined) return [named ?? primary]
    return named === undefined ? chain : [named, ...chain.slice(1).filter((link) => link !== named)]
  }
}
