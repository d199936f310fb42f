import type { ChatRequest } from "../core/domain/ChatRequest.ts"

/** A one-question request as the gateway decodes it, for benches that drive the caches without HTTP. */
export const oneQuestion = (content: string): ChatRequest => {
  const messages = [{ role: "user", content }]
  return {
    family: "openai",
    body: { model: "gpt-4o-mini", messages },
    messages,
    model: "gpt-4o-mini",
    stream: false,
    tenant: "anonymous|",
    cacheRead: true,
    cacheWrite: true
  }
}
