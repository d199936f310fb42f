import { createParser } from "eventsource-parser"
import { type Completion, CompletionAssembler, isCacheable } from "./Completion.ts"

export type StreamEnd =
  | { readonly _tag: "Finished"; readonly completion: Completion }
  | { readonly _tag: "Failed"; readonly message: string }
  | { readonly _tag: "Cancelled" }

const encoder = new TextEncoder()

/**
 * Forwards an upstream OpenAI SSE body to the client byte for byte, as it arrives, while reading it on the side
 * to learn whether it finished cleanly (a `[DONE]` and a finish reason on every choice). A stream that breaks
 * mid-way ends with an OpenAI-style error event, so the client's SDK raises instead of seeing a short answer.
 */
export const tapSse = (
  upstream: ReadableStream<Uint8Array>,
  onEnd: (end: StreamEnd) => void,
  describeFailure: (error: unknown) => string
): ReadableStream<Uint8Array> => {
  const reader = upstream.getReader()
  const decoder = new TextDecoder()
  const assembler = new CompletionAssembler()
  let sawDone = false
  let malformed = false
  let ended = false
  const end = (result: StreamEnd) => {
    if (ended) return
    ended = true
    onEnd(result)
  }
  const parser = createParser({
    onEvent(event) {
      if (event.data === "[DONE]") {
        sawDone = true
        return
      }
      try {
        const chunk = JSON.parse(event.data) as Parameters<CompletionAssembler["add"]>[0] & { error?: unknown }
        if (chunk.error !== undefined) malformed = true
        else assembler.add(chunk)
      } catch {
        malformed = true
      }
    }
  })
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          parser.feed(decoder.decode())
          const completion = assembler.result()
          if (sawDone && !malformed && completion && isCacheable(completion)) end({ _tag: "Finished", completion })
          else end({ _tag: "Failed", message: "upstream stream ended without completing" })
          controller.close()
          return
        }
        controller.enqueue(value)
        parser.feed(decoder.decode(value, { stream: true }))
      } catch (error) {
        const message = describeFailure(error)
        end({ _tag: "Failed", message })
        controller.enqueue(
          encoder.encode(`data: ${JSON.stringify({ error: { message, type: "upstream_error", code: "stream_interrupted" } })}\n\n`)
        )
        controller.close()
      }
    },
    async cancel(reason) {
      end({ _tag: "Cancelled" })
      await reader.cancel(reason).catch(() => undefined)
    }
  })
}
