import { Effect, Metric } from "effect"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { estimateTokens, tokenizer } from "../domain/usageEstimate.ts"
import { contextTokensSaved } from "../observability/Metrics.ts"
import { PassThroughOrigin } from "../providers/passThrough/PassThrough.ts"
import { instructionBlocks, MIN_REFERENCED_CHARS, referenceTo, shrinkInstructions } from "./instructionText.ts"
import { textSlots, type WireFormat, withTexts } from "./textSlots.ts"

/**
 * L2.5, the context optimiser (`context_optimizer = true`): before a request goes to L3, the agent instruction
 * blocks in its conversation are shrunk — whitespace and comments out, and a block repeated unchanged replaced by
 * a short reference to its first copy. Nothing the provider's prompt cache keys on changes (see `textSlots`), and
 * the result depends only on the conversation up to each turn, so every later request sends a turn the same way.
 */

type Json = Record<string, unknown>

export interface OptimisedBody {
  readonly body: Json
  /** Tokens the shrunk body no longer sends, by `count`. */
  readonly saved: number
}

/** `body` (in `format`) with its instruction blocks shrunk; the very same object when nothing could shrink. */
export const optimiseBody = (format: WireFormat, body: Json, count: (text: string) => number): OptimisedBody => {
  // Each block's first copy as it was sent (frozen: as written), for a later reference to quote its beginning.
  const seen = new Map<string, string>()
  const changes: Array<{ path: ReadonlyArray<string | number>; text: string }> = []
  let saved = 0
  for (const slot of textSlots(format, body)) {
    const blocks = instructionBlocks(slot.text)
    if (blocks.length === 0) continue
    let text = ""
    let at = 0
    for (const block of blocks) {
      const shrunk = shrinkInstructions(block.inner)
      const identity = `${block.tag}\u0000${shrunk.trim()}`
      const original = slot.text.slice(block.start, block.end)
      let replacement = original
      if (!slot.frozen) {
        const reference = referenceTo(block.tag, seen.get(identity) ?? shrunk)
        replacement =
          seen.has(identity) && original.length >= MIN_REFERENCED_CHARS && reference.length < original.length
            ? reference
            : `<${block.tag}>${shrunk}</${block.tag}>`
      }
      if (!seen.has(identity)) seen.set(identity, slot.frozen ? block.inner : shrunk)
      if (replacement !== original) saved += count(original) - count(replacement)
      text += slot.text.slice(at, block.start) + replacement
      at = block.end
    }
    text += slot.text.slice(at)
    if (text !== slot.text) changes.push({ path: slot.path, text })
  }
  return changes.length === 0 ? { body, saved: 0 } : { body: withTexts(body, changes), saved: Math.max(0, saved) }
}

/** The wire format a provider is sent: its own API when the gateway speaks it natively, else Chat Completions. */
export const wireFormatOf = (providerId: string): WireFormat =>
  providerId === "anthropic" ? "anthropic" : providerId === "gemini" ? "gemini" : "openai"

export interface OptimisedRequest {
  readonly request: ChatRequest
  readonly saved: number
}

/**
 * The request as the provider in `target`'s format will be sent it: the client's own body when it speaks that API
 * (passed through), else the canonical body. Only that one is shrunk; a fallback of another format gets the other
 * one untouched.
 */
export const optimiseRequest = (
  request: ChatRequest,
  target: WireFormat,
  count: (text: string) => number
): OptimisedRequest => {
  const source = request.source
  if (source !== undefined && source.format === target) {
    const { body, saved } = optimiseBody(target, source.body as Json, count)
    if (body === source.body) return { request, saved: 0 }
    return { request: { ...request, source: { ...source, body, text: JSON.stringify(body) } }, saved }
  }
  const { body, saved } = optimiseBody("openai", request.body as Json, count)
  if (body === request.body) return { request, saved: 0 }
  return { request: { ...request, body, messages: body.messages as ChatRequest["messages"] }, saved }
}

/** The gateway's one estimator, once its tokenizer has loaded (o200k_base: exact for OpenAI's current models). */
const loadCounter = Effect.promise(tokenizer).pipe(Effect.as(estimateTokens))

/** What a provider call answers with, and the tokens the optimiser kept from it (for `X-Isartor-Context-Saved`). */
export type WithContextSaved<A> = A & { readonly contextSaved?: number | undefined }

type Optimise = <A extends object, E>(
  request: ChatRequest,
  call: (request: ChatRequest) => Effect.Effect<A, E>
) => Effect.Effect<WithContextSaved<A>, E>

/** The provider calls L3 makes, and the chain whose first provider decides the format a request is shrunk for. */
export interface ProviderCalls<S extends object, C extends object, E> {
  readonly chain: ReadonlyArray<string>
  readonly stream: (request: ChatRequest) => Effect.Effect<S, E>
  readonly complete: (request: ChatRequest) => Effect.Effect<C, E>
}

const optimiseFor = (enabled: boolean, chain: ReadonlyArray<string>): Optimise => {
  // A plain answer type-checks as one with no saving.
  if (!enabled) {
    return <A extends object, E>(request: ChatRequest, call: (request: ChatRequest) => Effect.Effect<A, E>) =>
      call(request) as Effect.Effect<WithContextSaved<A>, E>
  }
  return <A extends object, E>(request: ChatRequest, call: (request: ChatRequest) => Effect.Effect<A, E>) =>
    Effect.flatMap(Effect.service(PassThroughOrigin), (origin): Effect.Effect<WithContextSaved<A>, E> =>
      // `isartor proxy` sends the client's own bytes to the original host: nothing is shrunk, nothing claimed.
      origin !== undefined ? call(request) : Effect.flatMap(loadCounter, (count) => {
        const target = wireFormatOf(request.provider ?? chain[0] ?? "openai")
        const { request: sent, saved } = optimiseRequest(request, target, count)
        return counted(call(sent), saved, target)
      }))
}

/** Whether the provider that answered was sent the body shrunk for `target` (a failover of another format was not). */
const gotShrunk = (answer: object, target: WireFormat | undefined) => {
  const provider = (answer as { readonly provider?: unknown }).provider
  return target === undefined || typeof provider !== "string" || wireFormatOf(provider) === target
}

/**
 * An answer to a shrunk request: the saving counted once it is answered, and said on the answer — only when the
 * provider that answered is one that was sent the shrunk body.
 */
const counted = <A extends object, E>(answered: Effect.Effect<A, E>, saved: number, target?: WireFormat) =>
  saved <= 0 ? answered : answered.pipe(
    Effect.flatMap((answer) =>
      gotShrunk(answer, target)
        ? Effect.as(Metric.update(contextTokensSaved, saved), { ...answer, contextSaved: saved } as WithContextSaved<A>)
        : Effect.succeed(answer as WithContextSaved<A>)
    )
  )

/**
 * The Responses API passed through to a provider that speaks it, as L2.5 calls it: `responses` with the client's
 * body shrunk as a Responses body (its `instructions` and leading developer messages kept), when enabled.
 */
export const responsesOptimizer = <
  S extends { readonly text: string; readonly body: Readonly<Record<string, unknown>> },
  R,
  A extends object,
  E
>(
  enabled: boolean,
  responses: (source: S, stream: boolean, route: R) => Effect.Effect<A, E>
): (source: S, stream: boolean, route: R) => Effect.Effect<WithContextSaved<A>, E> => {
  if (!enabled) return responses as (source: S, stream: boolean, route: R) => Effect.Effect<WithContextSaved<A>, E>
  return (source, stream, route) =>
    Effect.flatMap(
      Effect.zip(Effect.service(PassThroughOrigin), loadCounter),
      ([origin, count]): Effect.Effect<WithContextSaved<A>, E> => {
        if (origin !== undefined) return responses(source, stream, route)
        const { body, saved } = optimiseBody("responses", source.body as Json, count)
        if (body === source.body) return responses(source, stream, route)
        return counted(responses({ ...source, body, text: JSON.stringify(body) }, stream, route), saved)
      }
    )
}

/**
 * The provider's calls as L2.5 makes them, chosen once at wiring time: off, the provider gets each request as it
 * is. On, it gets the request shrunk for the format of the provider the chain starts with (an alias's provider,
 * else the primary), the answer says how many tokens that kept, and the saving is counted.
 */
export const contextOptimizer = <S extends object, C extends object, E>(
  enabled: boolean,
  provider: ProviderCalls<S, C, E>
) => {
  const optimise = optimiseFor(enabled, provider.chain)
  return {
    stream: (request: ChatRequest) => optimise(request, provider.stream),
    complete: (request: ChatRequest) => optimise(request, provider.complete)
  }
}
