import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A loopback stand-in for the Anthropic Messages API and the OpenAI Responses API that keeps every request it
 * receives (method, path, headers, body) and answers each with a short fixed text, as JSON or in the API's own
 * SSE events. Run a CLI once against it to record what the CLI really sends (test/fixtures/clients/).
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  /** The parsed JSON body, or the raw text when it is not JSON (undefined when empty). */
  readonly body: unknown
}

export interface Recorder {
  readonly url: string
  readonly requests: Array<RecordedRequest>
  close(): Promise<void>
}

type Json = Record<string, any>

const sse = (res: ServerResponse, data: Json, event?: string) =>
  res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`)

const anthropicMessage = (model: string, text: string) => ({
  id: "msg_recorder",
  type: "message",
  role: "assistant",
  model,
  content: [{ type: "text", text }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 3 }
})

const anthropicAnswer = (res: ServerResponse, body: Json, text: string) => {
  const model = String(body.model ?? "claude")
  if (body.stream !== true) {
    res.writeHead(200, { "content-type": "application/json" })
    return void res.end(JSON.stringify(anthropicMessage(model, text)))
  }
  res.writeHead(200, { "content-type": "text/event-stream" })
  const event = (type: string, data: Json) => sse(res, { type, ...data }, type)
  const start = anthropicMessage(model, text)
  event("message_start", {
    message: { ...start, content: [], stop_reason: null, usage: { ...start.usage, output_tokens: 1 } }
  })
  event("content_block_start", { index: 0, content_block: { type: "text", text: "" } })
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text } })
  event("content_block_stop", { index: 0 })
  event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 3 } })
  event("message_stop", {})
  res.end()
}

const responsesAnswer = (res: ServerResponse, body: Json, text: string) => {
  const message = {
    id: "msg_recorder",
    type: "message",
    status: "completed",
    role: "assistant",
    content: [{ type: "output_text", text, annotations: [] }]
  }
  const response = (status: string, output: Array<Json>) => ({
    id: "resp_recorder",
    object: "response",
    created_at: 1_700_000_000,
    status,
    model: String(body.model ?? "gpt"),
    output,
    usage: status === "completed"
      ? { input_tokens: 12, output_tokens: 3, total_tokens: 15, input_tokens_details: { cached_tokens: 0 } }
      : null
  })
  if (body.stream !== true) {
    res.writeHead(200, { "content-type": "application/json" })
    return void res.end(JSON.stringify(response("completed", [message])))
  }
  res.writeHead(200, { "content-type": "text/event-stream" })
  let sequence = 0
  const event = (type: string, data: Json) => sse(res, { type, sequence_number: sequence++, ...data }, type)
  event("response.created", { response: response("in_progress", []) })
  event("response.in_progress", { response: response("in_progress", []) })
  event("response.output_item.added", { output_index: 0, item: { ...message, status: "in_progress", content: [] } })
  const part = { type: "output_text", text: "", annotations: [] }
  event("response.content_part.added", { item_id: message.id, output_index: 0, content_index: 0, part })
  event("response.output_text.delta", { item_id: message.id, output_index: 0, content_index: 0, delta: text })
  event("response.output_text.done", { item_id: message.id, output_index: 0, content_index: 0, text })
  event("response.content_part.done", {
    item_id: message.id,
    output_index: 0,
    content_index: 0,
    part: { ...part, text }
  })
  event("response.output_item.done", { output_index: 0, item: message })
  event("response.completed", { response: response("completed", [message]) })
  res.end()
}

/** Starts the recorder on a free loopback port; every answer's text is `text`. */
export const startRecorder = async (text = "hi"): Promise<Recorder> => {
  const requests: Array<RecordedRequest> = []
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8")
      let body: unknown = raw === "" ? undefined : raw
      try {
        body = JSON.parse(raw)
      } catch {
        // kept as text
      }
      const path = req.url ?? ""
      requests.push({ method: req.method ?? "", path, headers: req.headers, body })
      const json = (typeof body === "object" && body !== null ? body : {}) as Json
      const pathname = path.split("?")[0]
      if (req.method === "POST" && pathname === "/v1/messages/count_tokens") {
        res.writeHead(200, { "content-type": "application/json" })
        return void res.end(JSON.stringify({ input_tokens: 12 }))
      }
      if (req.method === "POST" && pathname === "/v1/messages") return anthropicAnswer(res, json, text)
      if (req.method === "POST" && pathname?.endsWith("/responses")) return responsesAnswer(res, json, text)
      res.writeHead(404, { "content-type": "application/json" })
      res.end(JSON.stringify({ error: { type: "not_found_error", message: `recorder: no ${req.method} ${path}` } }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
