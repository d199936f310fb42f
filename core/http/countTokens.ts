import { type Effect, Exit } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import { parseJsonBody, type RequestContext } from "../domain/ChatRequest.ts"
import type { ProviderError } from "../domain/errors.ts"
import { fromAnthropicBody } from "../formats/anthropic/messagesBody.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"
import type { bodyReader } from "./middleware.ts"
import { renderFailure } from "./render.ts"

export interface CountTokensDependencies {
  /** The provider's own token count of an Anthropic Messages body; `undefined`: estimate it here. */
  readonly countTokens: ((body: Readonly<Record<string, unknown>>) => Effect.Effect<number, ProviderError>) | undefined
  readonly readBody: ReturnType<typeof bodyReader>
  readonly requestContext: (c: HonoContext) => RequestContext
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

/** Claude Code asks it before long requests: the provider counts when it speaks the Anthropic API, else an estimate. */
export const countTokensRoute = (app: Hono, deps: CountTokensDependencies): void => {
  app.post("/v1/messages/count_tokens", async (c) => {
    const text = await deps.readBody(c, "anthropic")
    if (typeof text !== "string") return text
    const parsed = parseJsonBody(text)
    if (Exit.isFailure(parsed)) return renderFailure("anthropic", parsed.cause)
    const body = parsed.value
    // The same checks as a Messages request, which has `max_tokens` where a count has none.
    const checked = typeof body === "object" && body !== null && !Array.isArray(body)
      ? fromAnthropicBody({ max_tokens: 1, ...body }, deps.requestContext(c))
      : fromAnthropicBody(body, deps.requestContext(c))
    if (Exit.isFailure(checked)) return renderFailure("anthropic", checked.cause)
    const counted = body as Readonly<Record<string, unknown>>
    if (deps.countTokens === undefined) {
      return c.json({ input_tokens: await estimateInputTokens(counted) }, 200, { "x-isartor-token-count": "estimate" })
    }
    const exit = await deps.run(deps.countTokens(counted))
    return Exit.isSuccess(exit)
      ? c.json({ input_tokens: exit.value }, 200, { "x-isartor-token-count": "provider" })
      : renderFailure("anthropic", exit.cause)
  })
}
