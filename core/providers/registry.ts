import type { ProviderConfigKey, ProviderId } from "../config/ConfigSpec.ts"
import { anthropic } from "./anthropic.ts"
import { azure } from "./azure.ts"
import { gemini } from "./gemini.ts"
import { ollama } from "./ollama.ts"
import { openaiCompatible } from "./openai-compatible.ts"
import { openai } from "./openai.ts"
import type { ProviderDefinition } from "./shared/ProviderDefinition.ts"
import { xai } from "./xai.ts"

/** Every provider the gateway can use, keyed by the id `ISARTOR__LLM_PROVIDER` names. */
export const providers = {
  openai,
  azure,
  anthropic,
  xai,
  gemini,
  ollama,
  "openai-compatible": openaiCompatible
} as const satisfies Record<ProviderId, ProviderDefinition>

export type { ProviderId }

export const isProviderId = (id: string): id is ProviderId => Object.hasOwn(providers, id)

/** The `[providers.<key>]` table a provider's fallback settings live in. */
export const providerConfigKey = (id: ProviderId) => id.replace("-", "_") as ProviderConfigKey
