import type { ServerResponse } from "node:http"
import { type Conversation, type Json, type Reply, textOf, type Turn, words } from "./fakeModel.ts"

/**
 * The OpenAI Responses API as the fake providers speak it (`POST /v1/responses`, Azure's `/openai/v1/responses`):
 * its input read into the fake model's conversation, its answer as a `response` object or the API's typed SSE
 * events, a reasoning item when reasoning was asked for, and the upstream's own store for `previous_response_id`.
 */

/** The conversation a Responses body holds, after the stored one it continues. */
export const fromResponses = (body: Json, history: ReadonlyArray<Turn>): Conversation => {
  const items: Array<Json> = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input
  const turns: Array<Turn> = [...history]
  const system = body.instructions ? [String(body.instructions)] : []
  for (const item of items) {
    const message = (item.type ?? "message") === "message"
    if (message && (item.role === "system" || item.role === "developer")) system.push(textOf(item.content))
    else if (message && (item.role === "user" || item.role === "assistant")) {
      turns.push({ role: item.role, text: textOf(item.content) })
    } else if (item.type === "function_call_output") {
      turns.push({ role: "user", text: "", toolResult: String(item.output) })
    }
  }
  return {
    system: system.join("\n\n"),
    turns,
    tools: (body.tools ?? []).filter((tool: Json) => tool.type === "function").map((tool: Json) => tool.name)
  }
}

export const FAKE_REASONING = { type: "reasoning", summary: [], encrypted_content: "enc-fake-reasoning" }

export const responseObject = (id: string, body: Json, reply: Reply, model: string): Json => {
  const output: Array<Json> = body.reasoning ? [{ id: `rs_${id}`, ...FAKE_REASONING }] : []
  output.push(
    reply.kind === "text"
      ? {
        type: "message",
        id: `msg_${id}`,
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: reply.text, annotations: [] }]
      }
      : {
        type: "function_call",
        id: `fc_${id}`,
        call_id: reply.id,
        name: reply.name,
        arguments: JSON.stringify(reply.args),
        status: "completed"
      }
  )
  const outputTokens = reply.kind === "text" ? words(reply.text).length : 5
  return {
    id: `resp_${id}`,
    object: "response",
    created_at: 1_700_000_000,
    status: "completed",
    model,
    output,
    previous_response_id: body.previous_response_id ?? null,
    // Echoed from the request, as the API does.
    instructions: body.instructions ?? null,
    tools: body.tools ?? [],
    store: body.store ?? true,
    usage: {
      input_tokens: 11,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: body.reasoning ? 3 : 0 },
      total_tokens: 11 + outputTokens
    }
  }
}

/** The response as the API streams it: every item announced, its text word by word, then `response.completed`. */
export const streamResponse = async (
  res: ServerResponse,
  response: Json,
  breakAfterWords?: number,
  /** After `breakAfterWords`: destroy the socket, or end the stream cleanly with no `response.completed`. */
  how: "break" | "truncate" = "break"
) => {
  let sequence = 0
  const event = (type: string, data: Json) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`)
  const started = { ...response, status: "in_progress", output: [], usage: null }
  event("response.created", { response: started })
  event("response.in_progress", { response: started })
  for (const [index, item] of (response.output as Array<Json>).entries()) {
    const at = { item_id: item.id, output_index: index }
    if (item.type === "message") {
      event("response.output_item.added", {
        output_index: index,
        item: { ...item, status: "in_progress", content: [] }
      })
      event("response.content_part.added", { ...at, content_index: 0, part: { type: "output_text", text: "" } })
      const text = String(item.content[0].text)
      for (const [count, word] of words(text).entries()) {
        if (count === breakAfterWords) return void (how === "break" ? res.destroy() : res.end())
        event("response.output_text.delta", { ...at, content_index: 0, delta: word })
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      event("response.output_text.done", { ...at, content_index: 0, text })
      event("response.content_part.done", { ...at, content_index: 0, part: item.content[0] })
    } else if (item.type === "function_call") {
      event("response.output_item.added", {
        output_index: index,
        item: { ...item, status: "in_progress", arguments: "" }
      })
      event("response.function_call_arguments.delta", { ...at, delta: item.arguments })
      event("response.function_call_arguments.done", { ...at, arguments: item.arguments })
    } else {
      event("response.output_item.added", { output_index: index, item })
    }
    event("response.output_item.done", { output_index: index, item })
  }
  event("response.completed", { response })
  res.end()
}
