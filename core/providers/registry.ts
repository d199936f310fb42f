import { openai } from "./openai.ts"
import type { ProviderDefinition } from "./ProviderDefinition.ts"

/** Every provider the gateway can use, keyed by the id `ISARTOR__LLM_PROVIDER` names. */
export const providers = {
  openai
} as const satisfies Record<string, ProviderDefinition>

export type ProviderId = keyof typeof providers

export const isProviderId = (id: string): id is ProviderId => Object.hasOwn(providers, id)
