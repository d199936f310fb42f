import { serverChatEndpoint } from "../transport/endpoints.ts"
import { makeOpenAICompatible } from "./shared/openaiCompatible.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** Ollama, through its OpenAI-compatible endpoint (`/v1/chat/completions`, SSE); no key needed. */
export const ollama: ProviderDefinition = {
  id: "ollama",
  requiresKey: false,
  checkKey: checkPrintableKey,
  make: (settings) =>
    makeOpenAICompatible({
      id: "ollama",
      defaultUrl: "http://127.0.0.1:11434/v1",
      requiresKey: false,
      endpoint: serverChatEndpoint
    }, settings)
}
