import { makeOpenAICompatible } from "./shared/openaiCompatible.ts"
import { checkPrintableKey, type ProviderDefinition } from "./shared/ProviderDefinition.ts"

/** Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`, `api-key` header. */
export const azure: ProviderDefinition = {
  id: "azure",
  requiresKey: true,
  checkKey: checkPrintableKey,
  checkSettings: (config) => {
    const usesAzure = config.llm_provider === "azure" || config.fallback_providers.includes("azure")
    if (!usesAzure) return []
    const problems: Array<string> = []
    if (config.azure_deployment_id === "") {
      problems.push("ISARTOR__AZURE_DEPLOYMENT_ID: required for azure, the deployment name")
    }
    const endpoint = config.llm_provider === "azure" ? config.external_llm_url : config.providers.azure.url
    if (endpoint === "") {
      problems.push("ISARTOR__EXTERNAL_LLM_URL: required for azure, e.g. https://my-resource.openai.azure.com")
    }
    return problems
  },
  make: (settings) =>
    makeOpenAICompatible({
      id: "azure",
      defaultUrl: "",
      requiresKey: true,
      endpoint: (url, { config }) => {
        const base = url.replace(/\/+$/, "").replace(/\/openai(\/.*)?$/, "")
        return `${base}/openai/deployments/${
          encodeURIComponent(config.azure_deployment_id)
        }/chat/completions?api-version=${encodeURIComponent(config.azure_api_version)}`
      },
      // Azure's v1 Responses API: one path per resource, the deployment named as the model.
      responses: {
        endpoint: (chatUrl) => `${chatUrl.slice(0, chatUrl.indexOf("/openai/"))}/openai/v1/responses`,
        model: ({ config }) => config.azure_deployment_id
      },
      modelsEndpoint: (chatUrl, { config }) =>
        `${chatUrl.slice(0, chatUrl.indexOf("/openai/"))}/openai/models?api-version=${
          encodeURIComponent(config.azure_api_version)
        }`,
      headers: (key) => ({ "api-key": key })
    }, settings)
}
