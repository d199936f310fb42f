import { makeOpenAICompatible } from "./shared/openaiCompatible.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** xAI (Grok): OpenAI-compatible at its own base URL. */
export const xai: ProviderDefinition = {
  id: "xai",
  requiresKey: true,
  checkKey: checkPrintableKey,
  make: (settings) =>
    makeOpenAICompatible({ id: "xai", defaultUrl: "https://api.x.ai/v1", requiresKey: true }, settings)
}
