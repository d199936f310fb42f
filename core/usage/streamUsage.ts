import { modelOf, usageOf } from "../observability/usage.ts"
import { SseSplitter } from "../streams/SseEvents.ts"

export interface StreamTokens {
  readonly input: number
  readonly output: number
  readonly model: string
}

/** A JSON string's characters, escapes counted once: enough for an estimate. */
const contentChars = (data: string): number => {
  let chars = 0
  const content = /"content":"((?:[^"\\]|\\.)*)"/g
  for (let found = content.exec(data); found !== null; found = content.exec(data)) chars += found[1]!.length
  return chars
}

/**
 * An upstream's OpenAI chunk stream, passed on untouched, read on the side for what the ledger records: the model
 * (from its first chunk) and the usage of its last chunk (`stream_options.include_usage`), else an estimate of the
 * output from the text streamed (about four characters a token). `onEnd` is told once, when the stream ends, breaks
 * off or is cancelled.
 */
export const tapStreamUsage = (
  body: ReadableStream<Uint8Array>,
  onEnd: (tokens: StreamTokens) => void
): ReadableStream<Uint8Array> => {
  const reader = body.getReader()
  const splitter = new SseSplitter()
  let model = ""
  let usage: { readonly input: number; readonly output: number } | undefined
  let chars = 0
  let ended = false
  const end = () => {
    if (ended) return
    ended = true
    onEnd(usage === undefined ? { input: 0, output: Math.ceil(chars / 4), model } : { ...usage, model })
  }
  const read = (result: ReadableStreamReadResult<Uint8Array>) => {
    for (const { data } of splitter.read(result)) {
      if (data === undefined || data === "[DONE]") continue
      if (model === "") model = modelOf(data)
      if (data.includes("\"usage\":{")) usage = usageOf(data) ?? usage
      else chars += contentChars(data)
    }
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const result = await reader.read()
        read(result)
        if (result.done) {
          controller.close()
          end()
        } else controller.enqueue(result.value)
      } catch (error) {
        end()
        controller.error(error)
      }
    },
    cancel(reason) {
      end()
      return reader.cancel(reason)
    }
  })
}
