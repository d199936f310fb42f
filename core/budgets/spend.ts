import type { ChatRequest } from "../domain/ChatRequest.ts"
import { type Completion, firstText } from "../domain/Completion.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"

/**
 * What a budget check needs of a request, whatever its API (chat, the Responses pass-through, embeddings): whose it
 * is, its model, and what it may spend.
 */
export interface Spend {
  /** The caller's scope hash (`<hash>|<session>`): its budget when its key has no label. */
  readonly tenant: string
  /** The label of the caller's gateway key, when it has one. */
  readonly callerLabel?: string | undefined
  readonly model: string
  /** Its input tokens, estimated (`o200k_base`). */
  readonly input: () => Promise<number>
  /** The output tokens it lets the answer take; undefined: `budget_projected_output_tokens`. */
  readonly maxOutput: number | undefined
  /** An answer's output tokens when it reports no usage; absent: as projected. */
  readonly outputOf?: (answer: string) => number
}

/** Who is calling, for a request outside the chat pipeline. */
export interface Caller {
  readonly tenant: string
  readonly callerLabel?: string | undefined
}

const positive = (value: unknown) => (typeof value === "number" && value > 0 ? value : undefined)

const estimated = (body: Readonly<Record<string, unknown>>) => () => estimateInputTokens(body).catch(() => 0)

/** The characters of a chat answer's text (its first choice's). */
const textLength = (answer: string) => {
  try {
    return firstText(JSON.parse(answer) as Completion).length
  } catch {
    return answer.length
  }
}

export const spendOfChat = (request: ChatRequest): Spend => ({
  tenant: request.tenant,
  callerLabel: request.callerLabel,
  model: request.model,
  input: estimated(request.body),
  maxOutput: positive(request.body.max_completion_tokens ?? request.body.max_tokens),
  // About four characters a token, as the usage ledger counts an answer without usage (a stream not asked for it).
  outputOf: (answer) => Math.ceil(textLength(answer) / 4)
})

/** Every string of a Responses `input` (text parts, tool outputs…): enough for an estimate. */
const textsOf = (value: unknown): Array<string> =>
  typeof value === "string"
    ? [value]
    : Array.isArray(value)
    ? value.flatMap(textsOf)
    : typeof value === "object" && value !== null
    ? Object.entries(value).flatMap(([field, inner]) => (field === "type" || field === "id" ? [] : textsOf(inner)))
    : []

export const spendOfResponses = (body: Readonly<Record<string, unknown>>, caller: Caller): Spend => ({
  ...caller,
  model: String(body.model ?? ""),
  input: estimated({ system: body.instructions, messages: textsOf(body.input).map((content) => ({ content })) }),
  maxOutput: positive(body.max_output_tokens)
})

/** Embeddings write no output: their input is the whole spend (token arrays are counted as sent). */
export const spendOfEmbeddings = (body: Readonly<Record<string, unknown>>, caller: Caller): Spend => {
  const inputs: ReadonlyArray<unknown> = Array.isArray(body.input) ? body.input : [body.input]
  const tokenArrays = inputs.every(Array.isArray) || inputs.every((one) => typeof one === "number")
  return {
    ...caller,
    model: String(body.model ?? ""),
    input: tokenArrays
      ? async () => inputs.reduce<number>((sum, one) => sum + (Array.isArray(one) ? one.length : 1), 0)
      : estimated({ messages: inputs.map((content) => ({ content: String(content) })) }),
    maxOutput: 0,
    outputOf: () => 0
  }
}
