import type { Answer } from "../domain/Answer.ts"
import { type ChatMessage, textOf } from "../domain/messages.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { modelOf, usageOf } from "../observability/usage.ts"
import type { Prices } from "./prices.ts"
import { tapStreamUsage, usageIn } from "./streamUsage.ts"
import type { UsageFamily, UsageLayer, UsageRow } from "./UsageRow.ts"

/** What the ledger learns of a request that reached an answer: set by whatever answered it, read at the edge. */
export interface UsageNote {
  /** The request's cache scope, `<scope hash>|<session>`: the caller is the hash. */
  readonly tenant: string
  readonly modelAsked: string
  /** The client format, when the route does not say it (the proxy). */
  readonly family?: UsageFamily | undefined
  /** The client asked for a stream. */
  readonly stream?: boolean | undefined
  /** For an upstream stream: settles when it has ended (and `tokens` holds what its events said). */
  ended?: Promise<void> | undefined
  /** The label of the caller's gateway key, when it has one. */
  label?: string | undefined
  /** A whole answer: its serialised OpenAI completion (usage and model read from it). */
  completion?: string | undefined
  /** The layer that answered, when the response does not say it (a pass-through). */
  layer?: UsageLayer | undefined
  /** A `[routing]` rule's answer: the provider and model that would have answered by default. */
  routedFrom?: { readonly provider: string; readonly model: string } | undefined
  /** Tokens read another way (a stream's last event, an embeddings answer, a pass-through's body). */
  tokens?: { readonly input: number; readonly output: number; readonly model: string } | undefined
  /**
   * Only with `request_log_bodies`: the request's last user message, its first `BODY_CHARS` (see `questionOf`);
   * then the answer's text is kept too (a stream's in `answerText`).
   */
  readonly question?: string | undefined
  answerText?: string | undefined
}

/** How much of a question and of an answer `request_log_bodies` keeps. */
export const BODY_CHARS = 2000

/** The last user message's text, its first `BODY_CHARS`: what `request_log_bodies` keeps of a request. */
export const questionOf = (messages: ReadonlyArray<ChatMessage>): string => {
  const last = messages.findLast((message) => message.role === "user")
  return textOf(last?.content).slice(0, BODY_CHARS)
}

/** A whole OpenAI completion's text (its first choice), its first `BODY_CHARS`; "" when it has none. */
const answerOf = (completion: string | undefined): string => {
  if (completion === undefined) return ""
  try {
    const parsed = JSON.parse(completion) as { choices?: Array<{ message?: { content?: unknown } }> }
    return textOf(parsed.choices?.[0]?.message?.content).slice(0, BODY_CHARS)
  } catch {
    return ""
  }
}

/** How the edge saw the answer go out. */
export interface Sent {
  readonly family: UsageFamily
  readonly layer: UsageLayer
  readonly provider: string
  readonly status: number
  readonly latencyMs: number
  readonly stream: boolean
}

const DEFLECTIONS = new Set<UsageLayer>(["l1a", "l1b", "l2"])

interface Tokens {
  readonly input: number
  readonly output: number
  readonly model: string
}
const NO_TOKENS: Tokens = { input: 0, output: 0, model: "" }
const MAX_REMEMBERED = 4096
const MAX_REMEMBERED_CHARS = 4 * 1024 * 1024
const remembered = new BoundedMemo<string, Tokens>(MAX_REMEMBERED, MAX_REMEMBERED_CHARS, (text) => text.length)

/**
 * The tokens of a whole answer: the usage it carries (the upstream's), else an estimate of its output from its length
 * (about four characters a token), so an answer without usage is not free in the ledger.
 */
const readTokens = (completion: string): Tokens => {
  const usage = usageOf(completion)
  return usage === undefined
    ? { input: 0, output: Math.ceil(completion.length / 4), model: modelOf(completion) }
    : { input: usage.input, output: usage.output, model: modelOf(completion) }
}

/**
 * The tokens of an answer. A deflection serves the same cached string on every hit: read once and found again by
 * identity (as `readTokens` in core/observability/Metrics.ts); a provider's answer is new each time, so not kept.
 */
const tokensOf = (note: UsageNote, deflected: boolean): Tokens => {
  if (note.tokens !== undefined) return note.tokens
  const completion = note.completion
  if (completion === undefined) return NO_TOKENS
  if (!deflected) return readTokens(completion)
  return remembered.get(completion) ?? remembered.set(completion, readTokens(completion))
}

export interface RowOptions {
  readonly prices: Prices
  readonly now: () => number
  /** Takes the credentials out of a kept question and answer before the row is stored (core/domain/credentials.ts). */
  readonly mask: (text: string) => string
}

/** The row of an answered request, priced: spent now by L3 and pass-through, saved by a deflection. */
export const makeUsageRow = (options: RowOptions) => (note: UsageNote, sent: Sent): UsageRow => {
  const { mask, now, prices } = options
  const deflected = DEFLECTIONS.has(sent.layer)
  const tokens = tokensOf(note, deflected)
  const price = tokens.model === "" ? undefined : prices(sent.provider, tokens.model)
  const cost = price === undefined ? 0 : tokens.input * price.input + tokens.output * price.output
  const bar = note.tenant.indexOf("|")
  const standard = note.routedFrom && !deflected ? prices(note.routedFrom.provider, note.routedFrom.model) : undefined
  // Built field by field, in the order the rows have always had, without a spread per optional field.
  const row: { -readonly [K in keyof UsageRow]: UsageRow[K] } = {
    at: now(),
    caller: bar < 0 ? note.tenant : note.tenant.slice(0, bar)
  } as UsageRow
  if (note.label !== undefined) row.label = note.label
  row.family = sent.family
  row.model_asked = note.modelAsked
  row.provider = sent.provider
  row.model = tokens.model
  row.layer = sent.layer
  row.tokens_in = deflected ? 0 : tokens.input
  row.tokens_out = deflected ? 0 : tokens.output
  row.cost_usd = deflected ? 0 : cost
  row.tokens_saved = deflected ? tokens.input + tokens.output : 0
  row.cost_saved_usd = deflected ? cost : 0
  if (standard !== undefined) {
    row.routing_saved_usd = tokens.input * standard.input + tokens.output * standard.output - cost
  }
  row.latency_ms = Math.round(sent.latencyMs * 100) / 100
  row.status = sent.status
  row.stream = sent.stream
  if (note.question !== undefined) {
    row.question = mask(note.question)
    row.answer = mask(note.answerText ?? answerOf(note.completion))
  }
  return row
}

/**
 * Tells the note what the pipeline answered: a whole answer's completion, or — for an upstream stream — the stream,
 * read on the side until it ends (`ended`), when its row is recorded. Without a note (the ledger off, or no edge),
 * the answer as it is.
 */
export const noteAnswer = (note: UsageNote | undefined, answer: Answer): Answer => {
  if (note === undefined) return answer
  if (answer.routed !== undefined) note.routedFrom = answer.routed.from
  if (answer._tag === "Complete") {
    note.completion = answer.completion
    return answer
  }
  return { ...answer, body: noteStream(note, answer.body) }
}

/** A stream answered upstream, read on the side for its tokens; its row is recorded when it has ended. */
export const noteStream = (note: UsageNote | undefined, body: ReadableStream<Uint8Array>) => {
  if (note === undefined) return body
  let ended!: () => void
  note.ended = new Promise<void>((resolve) => (ended = resolve))
  return tapStreamUsage(body, note.question === undefined ? 0 : BODY_CHARS, (tokens, text) => {
    note.tokens = tokens
    if (note.question !== undefined) note.answerText = text
    ended()
  })
}

/** A whole answer in another API's JSON (Responses, embeddings): its usage, in whichever names it uses, and model. */
export const noteJson = (note: UsageNote | undefined, text: string): void => {
  if (note === undefined) return
  note.tokens = { input: 0, output: 0, ...usageIn(text), model: modelOf(text) }
}
