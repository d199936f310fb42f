import { Cause, type Effect, Exit } from "effect"
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

/**
 * A count the provider could not give now (down, slow, rate-limited, its breaker open) or has no endpoint for (an
 * Anthropic-compatible server without `count_tokens`) is estimated instead: a count is advice, and the client's real
 * request may still be answered. What the client must fix (a bad body, the gateway's key, a model that does not
 * exist: Anthropic's 404 names it, "model: …") is its error as it was.
 */
const countsLocally = (error: ProviderError, model: unknown) =>
  error.isRetryable || error.reason === "CircuitOpen" ||
  (error.reason === "NotFound" && !(typeof model === "string" && model !== "" && error.message.includes(model)))

/** Claude Code asks it before long requests: the provider counts when it speaks the Anthropic API, else an estimate. */
export const countTokensRoute = (app: Hono, deps: CountTokensDependencies): void => {
  app.post("/v1/messages/count_tokens", async (c) => {
    const read = await deps.readBody(c, "anthropic")
    if (read instanceof Response) return read
    const parsed = parseJsonBody(read.text)
    if (Exit.isFailure(parsed)) return renderFailure("anthropic", parsed.cause)
    const body = parsed.value
    // The same checks as a Messages request, which has `max_tokens` where a count has none.
    const checked = typeof body === "object" && body !== null && !Array.isArray(body)
      ? fromAnthropicBody({ max_tokens: 1, ...body }, deps.requestContext(c))
      : fromAnthropicBody(body, deps.requestContext(c))
    if (Exit.isFailure(checked)) return renderFailure("anthropic", checked.cause)
    const counted = body as Readonly<Record<string, unknown>>
    const estimate = async () =>
      c.json({ input_tokens: await estimateInputTokens(counted) }, 200, { "x-isartor-token-count": "estimate" })
    if (deps.countTokens === undefined) return estimate()
    const exit = await deps.run(deps.countTokens(counted))
    if (Exit.isSuccess(exit)) return c.json({ input_tokens: exit.value }, 200, { "x-isartor-token-count": "provider" })
    const failure = Cause.findErrorOption(exit.cause)
    return failure._tag === "Some" && countsLocally(failure.value, counted.model)
      ? estimate()
      : renderFailure("anthropic", exit.cause)
  })
}
