/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the models the gateway answers for, in the API of the client asking —
 * Anthropic's shape (`type`, `display_name`, `created_at`, `has_more`) for a client that sends `anthropic-version`
 * (the Anthropic SDK, Claude Code), OpenAI's otherwise — so `models.list` and `models.retrieve` work in both SDKs.
 */
import type { Hono } from "hono"
import { type AppConfigShape, configSpec } from "../config/ConfigSpec.ts"
import type { ModelAlias } from "../domain/ChatRequest.ts"
import { familyError } from "./errors.ts"

interface Listed {
  readonly id: string
  readonly ownedBy: string
  readonly aliasFor?: string
}

/** Providers whose API is OpenAI's, and whose model the default `external_llm_model` (an OpenAI model) can be. */
const OPENAI_LIKE = new Set(["openai", "azure", "openai-compatible", "ollama", "xai"])

/**
 * The configured model, unless it is the default OpenAI model left in place for a provider that has no such model
 * (an `anthropic` gateway would list `gpt-4o-mini`); then the aliases, each with what it stands for.
 */
const modelsOf = (config: AppConfigShape, aliases: ReadonlyMap<string, ModelAlias>): ReadonlyArray<Listed> => {
  const unset = config.external_llm_model === configSpec.external_llm_model.defaultText &&
    !OPENAI_LIKE.has(config.llm_provider)
  return [
    ...(unset ? [] : [{ id: config.external_llm_model, ownedBy: config.llm_provider }]),
    ...[...aliases].map(([name, alias]) => ({
      id: name,
      ownedBy: alias.provider ?? config.llm_provider,
      aliasFor: config.model_aliases[name] ?? alias.model
    }))
  ]
}

export const modelRoutes = (
  app: Hono,
  deps: {
    readonly config: AppConfigShape
    readonly aliases: ReadonlyMap<string, ModelAlias>
    readonly startedAt: number
  }
) => {
  const created = Math.floor(deps.startedAt / 1000)
  const createdAt = new Date(created * 1000).toISOString()
  const openai = (model: Listed) => ({
    id: model.id,
    object: "model",
    created,
    owned_by: model.ownedBy,
    ...(model.aliasFor !== undefined ? { alias_for: model.aliasFor } : {})
  })
  const anthropic = (model: Listed) => ({
    type: "model",
    id: model.id,
    display_name: model.aliasFor === undefined ? model.id : `${model.id} (${model.aliasFor})`,
    created_at: createdAt
  })
  const isAnthropic = (headers: Headers) => headers.get("anthropic-version") !== null
  app.get("/v1/models", (c) => {
    const models = modelsOf(deps.config, deps.aliases)
    if (!isAnthropic(c.req.raw.headers)) return c.json({ object: "list", data: models.map(openai) })
    return c.json({
      data: models.map(anthropic),
      has_more: false,
      first_id: models[0]?.id ?? null,
      last_id: models.at(-1)?.id ?? null
    })
  })
  app.get("/v1/models/:id", (c) => {
    const id = c.req.param("id")
    const found = modelsOf(deps.config, deps.aliases).find((model) => model.id === id)
    const family = isAnthropic(c.req.raw.headers) ? "anthropic" : "openai"
    if (found === undefined) {
      return familyError(family, 404, `The model '${id}' does not exist`, "invalid_request_error", {
        param: "model",
        code: "model_not_found"
      })
    }
    return c.json(family === "anthropic" ? anthropic(found) : openai(found))
  })
}
