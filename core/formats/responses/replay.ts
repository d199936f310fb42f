/**
 * A whole Responses API `response` replayed as the typed events a streaming client reads: for an answer the gateway
 * holds (a cached one) and a client that asked for a stream. Every output item is announced, filled and closed in
 * order; the text and arguments come in one delta each.
 */
import type { Json } from "../openai.ts"

const encoder = new TextEncoder()

/** The item as announced before its content arrives. */
const opened = (item: Json): Json =>
  item.type === "message"
    ? { ...item, status: "in_progress", content: [] }
    : item.type === "function_call"
    ? { ...item, status: "in_progress", arguments: "" }
    : item

export const responseEvents = (response: Json): Array<{ event: string; data: Json }> => {
  let sequence = 0
  const events: Array<{ event: string; data: Json }> = []
  const emit = (type: string, data: Json) =>
    events.push({ event: type, data: { type, sequence_number: sequence++, ...data } })
  const started = { ...response, status: "in_progress", output: [], usage: null }
  emit("response.created", { response: started })
  emit("response.in_progress", { response: started })
  for (const [outputIndex, item] of ((response.output as Array<Json> | undefined) ?? []).entries()) {
    emit("response.output_item.added", { output_index: outputIndex, item: opened(item) })
    const at = { item_id: item.id, output_index: outputIndex }
    if (item.type === "message") {
      for (const [contentIndex, part] of ((item.content as Array<Json> | undefined) ?? []).entries()) {
        const text = String(part.text ?? part.refusal ?? "")
        const kind = part.type === "refusal" ? "refusal" : "output_text"
        emit("response.content_part.added", {
          ...at,
          content_index: contentIndex,
          part: kind === "refusal" ? { type: "refusal", refusal: "" } : { ...part, text: "" }
        })
        emit(`response.${kind}.delta`, { ...at, content_index: contentIndex, delta: text, logprobs: [] })
        emit(`response.${kind}.done`, {
          ...at,
          content_index: contentIndex,
          ...(kind === "refusal" ? { refusal: text } : { text, logprobs: [] })
        })
        emit("response.content_part.done", { ...at, content_index: contentIndex, part })
      }
    } else if (item.type === "function_call") {
      emit("response.function_call_arguments.delta", { ...at, delta: String(item.arguments ?? "") })
      emit("response.function_call_arguments.done", { ...at, name: item.name, arguments: item.arguments })
    }
    emit("response.output_item.done", { output_index: outputIndex, item })
  }
  const status = String(response.status ?? "completed")
  emit(status === "incomplete" ? "response.incomplete" : "response.completed", { response })
  return events
}

export const responseToSse = (response: Json): ReadableStream<Uint8Array> => {
  const text = responseEvents(response).map(({ data, event }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    .join("")
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(text))
      controller.close()
    }
  })
}
