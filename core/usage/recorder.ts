import type { Answer } from "../domain/Answer.ts"
import { type ChatMessage, textOf } from "../domain/messages.ts"
import { estimateTokens } from "../domain/usageEstimate.ts"
import { BoundedMemo } from "../memory/BoundedMemo.ts"
import { modelOf, usageOf } from "../observability/usage.ts"
import type { Prices } from "./prices.ts"
import { type StreamTokens, tapStreamUsage, usageIn } from "./streamUsage.ts"
import type { UsageFamily, UsageLayer } from "./UsageRow.ts"

/**
 * What the ledger learns of a request that reached an answer: set by whatever answered it, recorded by the edge with
 * how it went out (`recordSent`, as arguments: nothing added to the note), and made a row only when one is read (see
 * core/usage/ledger.ts).
 */
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
  tokens?: StreamTokens | undefined
  /**
   * The request body as the client sent it (parsed): its input tokens are estimated from it (as `count_tokens` does)
   * when the answer carries no usage. Let go once estimated: an agent's body is hundreds of KB, and a note waiting
   * for its estimate is held until it has it.
   */
  body?: Readonly<Record<string, unknown>> | undefined
  /** The estimate of the input tokens, once made (see `estimateInput`). */
  inputEstimate?: number | undefined
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

const DEFLECTIONS = new Set<UsageLayer>(["l1a", "l1b", "l2"])

/** A cached answer's tokens, read once, with its cost at the last provider it was priced for. */
interface Tokens extends StreamTokens {
  pricedFor?: string
  cost?: number
}
const NO_TOKENS: StreamTokens = { input: 0, output: 0, model: "" }
const MAX_REMEMBERED = 4096
const MAX_REMEMBERED_CHARS = 4 * 1024 * 1024

/**
 * The tokens of a whole answer: the usage it carries (the upstream's, or the gateway's estimate marked as one), else an
 * estimate of its output from its length, so an answer without usage is not free in the ledger.
 */
const readTokens = (completion: string): Tokens => {
  const usage = usageOf(completion)
  const model = modelOf(completion)
  if (usage === undefined) return { input: 0, output: estimateTokens(completion), model, estimated: true }
  return { input: usage.input, output: usage.output, model, ...(usage.estimated ? { estimated: true } : {}) }
}

export interface RowOptions {
  readonly prices: Prices
  /** Takes the credentials out of a kept question and answer before the row is stored (core/domain/credentials.ts). */
  readonly mask: (text: string) => string
}

/** What one request adds to its hourly rollup (see `PendingRollups` in core/usage/ledger.ts). */
export type AddToRollup = (
  at: number,
  caller: string,
  provider: string,
  model: string,
  layer: UsageLayer,
  failed: boolean,
  tokensIn: number,
  tokensOut: number,
  costUsd: number,
  tokensSaved: number,
  costSavedUsd: number
) => void

/**
 * A note's tokens and their price. A deflection serves the same cached string on every hit: read once and found
 * again by identity (as `readTokens` in core/observability/Metrics.ts); a provider's answer is new each time, so not
 * kept.
 */
const makeTokenReader = (prices: Prices) => {
  const remembered = new BoundedMemo<string, Tokens>(MAX_REMEMBERED, MAX_REMEMBERED_CHARS, (text) => text.length)
  const tokensOf = (note: UsageNote, deflected: boolean): Tokens => {
    if (note.tokens !== undefined) return note.tokens
    const completion = note.completion
    if (completion === undefined) return NO_TOKENS
    if (!deflected) return readTokens(completion)
    return remembered.get(completion) ?? remembered.set(completion, readTokens(completion))
  }
  /** The input tokens: the answer's own, else the request's estimate (when one was made). */
  const inputOf = (note: UsageNote, tokens: Tokens) =>
    tokens.estimated === true && note.inputEstimate !== undefined ? note.inputEstimate : tokens.input
  const costOf = (tokens: Tokens, provider: string, input: number): number => {
    if (tokens.pricedFor === provider && input === tokens.input) return tokens.cost!
    const price = tokens.model === "" ? undefined : prices(provider, tokens.model)
    const cost = price === undefined ? 0 : input * price.input + tokens.output * price.output
    if (input === tokens.input) (tokens.pricedFor = provider), (tokens.cost = cost)
    return cost
  }
  return { tokensOf, inputOf, costOf }
}

/**
 * The caller's scope hash, out of a note's tenant (`<scope hash>|<session>`). A caller's requests come in runs: the
 * last one's is kept, so a run takes no new string (and its rollup is found by a string whose hash is known).
 */
const makeScopeOf = () => {
  let lastTenant = ""
  let lastScope = ""
  return (tenant: string): string => {
    if (tenant === lastTenant) return lastScope
    const bar = tenant.indexOf("|")
    lastScope = bar < 0 ? tenant : tenant.slice(0, bar)
    lastTenant = tenant
    return lastScope
  }
}

/**
 * One request's figures as the ledger keeps them (see core/usage/recentRing.ts): one object, written again for every
 * request, so measuring allocates nothing that outlives it. Strings are the ones the gateway shares where it can (a
 * cached answer's model, the caller's scope string of its last request).
 */
export interface Measured {
  /** The caller's scope hash. */
  caller: string
  label: string | undefined
  modelAsked: string
  model: string
  tokensIn: number
  tokensOut: number
  costUsd: number
  tokensSaved: number
  costSavedUsd: number
  /** The answer carried no usage, and its tokens are not all 0. */
  estimated: boolean
  /** What a `[routing]` rule saved (see `UsageRow.routing_saved_usd`); NaN when no rule routed the request. */
  routingSavedUsd: number
  stream: boolean
  /** With `request_log_bodies`: the question and the answer's text, as kept (masked when made a row). */
  question: string | undefined
  answer: string | undefined
}

/**
 * A note's figures, priced — spent now by L3 and pass-through, saved by a deflection — from one reading of its
 * tokens and price: `measure` (every request; the ledger sums them into the rollup and keeps them among the last
 * requests, see core/usage/ledger.ts).
 */
export const makeUsageRows = (options: RowOptions) => {
  const reader = makeTokenReader(options.prices)
  const { costOf, inputOf, tokensOf } = reader
  const scopeOf = makeScopeOf()
  const measured: Measured = {
    caller: "",
    label: undefined,
    modelAsked: "",
    model: "",
    tokensIn: 0,
    tokensOut: 0,
    costUsd: 0,
    tokensSaved: 0,
    costSavedUsd: 0,
    estimated: false,
    routingSavedUsd: Number.NaN,
    stream: false,
    question: undefined,
    answer: undefined
  }

  /** The note's figures, in the one `Measured` (valid until the next call). */
  const measure = (note: UsageNote, layer: UsageLayer, provider: string): Measured => {
    const deflected = DEFLECTIONS.has(layer)
    const tokens = tokensOf(note, deflected)
    const input = inputOf(note, tokens)
    const cost = costOf(tokens, provider, input)
    measured.caller = scopeOf(note.tenant)
    measured.label = note.label
    measured.modelAsked = note.modelAsked
    measured.model = tokens.model
    measured.tokensIn = deflected ? 0 : input
    measured.tokensOut = deflected ? 0 : tokens.output
    measured.costUsd = deflected ? 0 : cost
    measured.tokensSaved = deflected ? input + tokens.output : 0
    measured.costSavedUsd = deflected ? cost : 0
    measured.estimated = tokens.estimated === true && (input > 0 || tokens.output > 0)
    const standard = note.routedFrom && !deflected
      ? options.prices(note.routedFrom.provider, note.routedFrom.model)
      : undefined
    measured.routingSavedUsd = standard === undefined
      ? Number.NaN
      : input * standard.input + tokens.output * standard.output - cost
    measured.stream = note.stream === true
    measured.question = note.question
    measured.answer = note.question === undefined ? undefined : note.answerText ?? answerOf(note.completion)
    return measured
  }

  /**
   * Whether the note's input tokens are to be estimated before it is recorded: an answer (not a failure) that
   * carried no usage, of a request whose body is known. Read from the same tokens `measure` reads.
   */
  const needsEstimate = (note: UsageNote, layer: UsageLayer, status: number): boolean =>
    note.body !== undefined && note.inputEstimate === undefined && status < 400 &&
    tokensOf(note, DEFLECTIONS.has(layer)).estimated === true

  return { measure, needsEstimate, mask: options.mask }
}

export type UsageRows = ReturnType<typeof makeUsageRows>

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
  const usage = usageIn(text)
  note.tokens = usage === undefined
    ? { input: 0, output: 0, model: modelOf(text), estimated: true }
    : { ...usage, model: modelOf(text) }
}
