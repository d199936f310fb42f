import { makeOpenAICompatible } from "./openaiCompatible.ts"
import type { ProviderDefinition } from "./ProviderDefinition.ts"

/** OpenAI Chat Completions, Bearer key. */
export const openai: ProviderDefinition = {
  id: "openai",
  requiresKey: true,
  checkKey: (key) =>
    /^[\x21-\x7e]{8,}$/.test(key) ? undefined : "expected at least 8 printable characters without spaces (e.g. sk-…)",
  make: (settings) => makeOpenAICompatible({ id: "openai" }, settings)
}
