import { makeOpenAICompatible } from "./shared/openaiCompatible.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** OpenAI Chat Completions: Bearer key, optional organisation and project headers. */
export const openai: ProviderDefinition = {
  id: "openai",
  requiresKey: true,
  checkKey: checkPrintableKey,
  make: (settings) =>
    makeOpenAICompatible({
      id: "openai",
      defaultUrl: "https://api.openai.com/v1",
      requiresKey: true,
      responses: { endpoint: (chatUrl) => chatUrl.replace(/\/chat\/completions$/, "/responses") },
      headers: (key, { config }) => ({
        authorization: `Bearer ${key}`,
        ...(config.openai_organization ? { "openai-organization": config.openai_organization } : {}),
        ...(config.openai_project ? { "openai-project": config.openai_project } : {})
      })
    }, settings)
}
