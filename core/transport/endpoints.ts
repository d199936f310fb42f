/** `…/v1` and `…/v1/` mean the chat endpoint under them; a full endpoint URL is used as given. */
export const chatEndpoint = (url: string): string => {
  const trimmed = url.replace(/\/+$/, "")
  return /\/v\d+[a-z]*$/.test(trimmed) ? `${trimmed}/chat/completions` : trimmed
}

/** The embeddings endpoint beside a chat endpoint (`…/v1/embeddings`; Azure: the deployment's, query kept). */
export const embeddingsEndpoint = (chatUrl: string): string =>
  chatUrl.replace(/\/chat\/completions(?=$|\?)/, "/embeddings")

/** Like `chatEndpoint`, but a bare server address (`http://host:11434`) means its OpenAI-compatible API under /v1. */
export const serverChatEndpoint = (url: string): string => {
  const trimmed = url.replace(/\/+$/, "")
  return trimmed.endsWith("/chat/completions") || /\/v\d+[a-z]*$/.test(trimmed)
    ? chatEndpoint(trimmed)
    : `${trimmed}/v1/chat/completions`
}
