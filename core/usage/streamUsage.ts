import { modelOf } from "../observability/usage.ts"
import { SseSplitter } from "../streams/SseEvents.ts"
import { type StreamTap, tapStream } from "../streams/tapStream.ts"

export interface StreamTokens {
  readonly input: number
  readonly output: number
  readonly model: string
  /** No usage came with the answer: the output is estimated from its length, and the input is not known. */
  readonly estimated?: boolean
}

const USAGE_FIELDS = /"(prompt_tokens|input_tokens|completion_tokens|output_tokens)":\s*(\d+)/g

/**
 * The `usage` a JSON text carries, in any API's names (OpenAI's `prompt_tokens` / `completion_tokens`, Anthropic's
 * and Responses' `input_tokens` / `output_tokens`); `undefined` without one. Read from the text, not parsed.
 */
export const usageIn = (text: string): { readonly input: number; readonly output: number } | undefined => {
  const at = text.lastIndexOf("\"usage\":{")
  if (at < 0) return undefined
  let input = 0
  let output = 0
  USAGE_FIELDS.lastIndex = at
  for (let found = USAGE_FIELDS.exec(text); found !== null; found = USAGE_FIELDS.exec(text)) {
    const count = Number(found[2])
    if (found[1] === "prompt_tokens" || found[1] === "input_tokens") input = count
    else output = count
  }
  return { input, output }
}

const CONTENT = /"content":"((?:[^"\\]|\\.)*)"/g

/** A JSON string's characters, escapes counted once: enough for an estimate. */
const contentChars = (data: string): number => {
  let chars = 0
  for (const found of data.matchAll(CONTENT)) chars += found[1]!.length
  return chars
}

/** The text of an event's `content` strings, decoded. */
const contentText = (data: string): string => {
  let text = ""
  for (const found of data.matchAll(CONTENT)) {
    try {
      text += JSON.parse(`"${found[1]!}"`) as string
    } catch {
      // An escape cut in two is not text to keep.
    }
  }
  return text
}

/** One tapped stream's reading so far. */
interface UsageTap {
  readonly splitter: SseSplitter
  readonly keepChars: number
  readonly onEnd: (tokens: StreamTokens, text: string) => void
  model: string
  usage: { readonly input: number; readonly output: number } | undefined
  chars: number
  text: string
  ended: boolean
}

/** The stream's tokens, told once. */
const endUsage = (tap: UsageTap) => {
  if (tap.ended) return
  tap.ended = true
  const { usage, model } = tap
  tap.onEnd(
    usage === undefined ? { input: 0, output: Math.ceil(tap.chars / 4), model, estimated: true } : { ...usage, model },
    tap.text
  )
}

const readUsage = (tap: UsageTap, result: ReadableStreamReadResult<Uint8Array>) => {
  for (const { data } of tap.splitter.read(result)) {
    if (data === undefined || data === "[DONE]") continue
    if (tap.model === "") tap.model = modelOf(data)
    if (data.includes("\"usage\":{")) tap.usage = usageIn(data) ?? tap.usage
    else tap.chars += contentChars(data)
    if (tap.text.length < tap.keepChars) tap.text = (tap.text + contentText(data)).slice(0, tap.keepChars)
  }
}

const usageTap: StreamTap<UsageTap> = {
  onRead: (tap, result, controller) => {
    readUsage(tap, result)
    if (result.done) {
      controller.close()
      endUsage(tap)
      return "ended"
    }
    controller.enqueue(result.value)
    return "wait"
  },
  onFailure: (tap, error, controller) => {
    endUsage(tap)
    controller.error(error)
  },
  onCancel: endUsage
}

/**
 * An upstream's stream (OpenAI chunks, or Responses events), passed on untouched, read on the side for what the
 * ledger records: the model (from its first event) and the usage of its last (`stream_options.include_usage`, a
 * Responses `response.completed`), else an estimate of the
 * output from the text streamed (about four characters a token). `onEnd` is told once, when the stream ends, breaks
 * off or is cancelled. With `keepChars` > 0 (`request_log_bodies`), the text streamed is kept too, its first
 * `keepChars`, and told with the tokens.
 */
export const tapStreamUsage = (
  body: ReadableStream<Uint8Array>,
  keepChars: number,
  onEnd: (tokens: StreamTokens, text: string) => void
): ReadableStream<Uint8Array> =>
  tapStream(body, usageTap, {
    splitter: new SseSplitter(),
    keepChars,
    onEnd,
    model: "",
    usage: undefined,
    chars: 0,
    text: "",
    ended: false
  })
