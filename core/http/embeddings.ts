import { type Effect, Exit } from "effect"
import type { Context as HonoContext, Hono } from "hono"
import { parseJsonBody } from "../domain/ChatRequest.ts"
import { checkEmbeddingsBody } from "../domain/EmbeddingsRequest.ts"
import type { Embeddings } from "../pipeline/Embeddings.ts"
import { noteJson } from "../usage/recorder.ts"
import { type HeaderContext, refusal } from "./chat.ts"
import type { bodyReader } from "./middleware.ts"
import type { NoteUsage } from "./noteUsage.ts"
import { pipelineHeaders, renderFailure } from "./render.ts"

export interface EmbeddingsRouteDependencies {
  readonly embeddings: Embeddings["Service"]
  readonly readBody: ReturnType<typeof bodyReader>
  readonly requestContext: (c: HonoContext) => HeaderContext
  readonly noteUsage: NoteUsage
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
}

/** Forwarded to the provider and exact-cached, so a client pointed wholly at the gateway keeps its embeddings. */
export const embeddingsRoute = (app: Hono, deps: EmbeddingsRouteDependencies): void => {
  app.post("/v1/embeddings", async (c) => {
    const read = await deps.readBody(c, "openai")
    if (read instanceof Response) return read
    const parsed = parseJsonBody(read.text)
    const checked = Exit.isSuccess(parsed) ? checkEmbeddingsBody(parsed.value) : Exit.failCause(parsed.cause)
    if (Exit.isFailure(checked)) return renderFailure("openai", checked.cause)
    const context = deps.requestContext(c)
    const refused = refusal("openai", context)
    if (refused) return refused
    const { tenant, cacheRead, cacheWrite, onlyIfCached } = context
    const note = deps.noteUsage(c, tenant, String(checked.value.model ?? ""), false, checked.value)
    const exit = await deps.run(
      deps.embeddings.create({
        body: checked.value,
        tenant,
        callerLabel: context.callerLabel,
        cacheRead,
        cacheWrite,
        onlyIfCached
      })
    )
    if (Exit.isFailure(exit)) return renderFailure("openai", exit.cause)
    const answer = exit.value
    noteJson(note, answer.body)
    return new Response(answer.body, {
      headers: {
        "content-type": "application/json",
        ...pipelineHeaders(answer.layer, answer.provider, answer.cacheKey)
      }
    })
  })
}
