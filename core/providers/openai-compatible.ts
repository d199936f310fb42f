import { makeOpenAICompatible } from "./shared/openaiCompatible.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** Any OpenAI-compatible server (Groq, Mistral, OpenRouter, DeepSeek, Together, vLLM…): a URL, and a key if it wants one. */
export const openaiCompatible: ProviderDefinition = {
  id: "openai-compatible",
  requiresKey: false,
  checkKey: checkPrintableKey,
  checkSettings: (config) =>
    config.llm_provider === "openai-compatible" && config.external_llm_url === ""
      ? ["ISARTOR__EXTERNAL_LLM_URL: required for openai-compatible, e.g. https://api.groq.com/openai/v1"]
      : [],
  make: (settings) =>
    makeOpenAICompatible(
      { id: "openai-compatible", defaultUrl: "http://127.0.0.1:8000/v1", requiresKey: false },
      settings
    )
}
