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
      // A bare server address (`http://host:11434`) means its OpenAI-compatible API under /v1.
      endpoint: (url) => chatEndpointFor(url)
    }, settings)
}

const chatEndpointFor = (url: string) => {
  const trimmed = url.replace(/\/+$/, "")
  if (trimmed.endsWith("/chat/completions")) return trimmed
  return /\/v\d+$/.test(trimmed) ? `${trimmed}/chat/completions` : `${trimmed}/v1/chat/completions`
}
