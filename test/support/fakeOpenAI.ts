import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A loopback stand-in for the OpenAI Chat Completions API: real HTTP, real JSON and SSE framing, real error
 * bodies. The answer text is derived from the request, so different requests get different answers.
 */
export interface RecordedCall {
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: Record<string, unknown>
}

export type Behaviour =
  | { readonly kind: "ok"; readonly delayMs?: number }
  | {
    readonly kind: "error"
    readonly status: number
    readonly message: string
    readonly headers?: Record<string, string>
  }
  | { readonly kind: "break-stream" }
  /** A stream that ends cleanly after two words, with no finish reason and no `[DONE]`. */
  | { readonly kind: "truncate-stream" }
  /** A stream with an event that is not JSON after two words; the rest of the answer follows as usual. */
  | { readonly kind: "malformed-stream" }
  /** A stream whose third event is an error quoting the caller's Authorization header, as a careless upstream might. */
  | { readonly kind: "error-event-stream" }
  | { readonly kind: "hang" }
  /** A 200 whose body is not JSON, as a misconfigured proxy in front of an upstream may answer. */
  | { readonly kind: "not-json" }

export interface FakeOpenAI {
  readonly url: string
  readonly calls: Array<RecordedCall>
  /** The next requests get these behaviours in turn; afterwards, `ok`. */
  readonly queue: Array<Behaviour>
  setDefault(behaviour: Behaviour): void
  close(): Promise<void>
}

export const answerFor = (body: Record<string, unknown>): string => {
  const messages = body.messages as Array<{ role: string; content: unknown }>
  const last = messages[messages.length - 1]
  const text = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content)
  return `Answer #${messages.length} to: ${text}`
}

const completion = (body: Record<string, unknown>, id: string) => ({
  id,
  object: "chat.completion",
  created: 1_700_000_000,
  model: String(body.model),
  system_fingerprint: "fp_fake",
  choices: [{
    index: 0,
    message: { role: "assistant", content: answerFor(body), refusal: null },
    logprobs: null,
    finish_reason: "stop"
  }],
  usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 }
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

type StreamFault = "break-stream" | "truncate-stream" | "malformed-stream" | "error-event-stream" | undefined

const writeStream = async (
  res: ServerResponse,
  body: Record<string, unknown>,
  id: string,
  fault: StreamFault,
  authorization: string
) => {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  const base = {
    id,
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: String(body.model),
    system_fingerprint: "fp_fake"
  }
  const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`)
  send({
    ...base,
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]
  })
  const words = answerFor(body).split(/(?<= )/)
  for (const [index, word] of words.entries()) {
    send({ ...base, choices: [{ index: 0, delta: { content: word }, logprobs: null, finish_reason: null }] })
    if (fault !== undefined && index === 1) {
      if (fault === "break-stream") {
        await sleep(10)
        return void res.destroy()
      }
      if (fault === "truncate-stream") return void res.end()
      if (fault === "malformed-stream") res.write(`data: {"id":"${id}","choices":[{"delta":{"content":"cut\n\n`)
      if (fault === "error-event-stream") {
        const message = `Incorrect API key provided: ${authorization}`
        send({ error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" } })
        return void res.end()
      }
    }
    await sleep(2)
  }
  send({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] })
  const options = body.stream_options as { include_usage?: boolean } | undefined
  if (options?.include_usage) {
    send({
      ...base,
      choices: [],
      usage: { prompt_tokens: 9, completion_tokens: words.length, total_tokens: 9 + words.length }
    })
  }
  res.write("data: [DONE]\n\n")
  res.end()
}

export interface FakeOptions {
  /** Keep every request for assertions (tests); off for load, where it would only grow. */
  readonly record?: boolean
  readonly port?: number
  readonly defaultBehaviour?: Behaviour
}

export const startFakeOpenAI = async (options: FakeOptions = {}): Promise<FakeOpenAI> => {
  const calls: Array<RecordedCall> = []
  const queue: Array<Behaviour> = []
  let fallback: Behaviour = options.defaultBehaviour ?? { kind: "ok" }
  const record = options.record ?? true
  let counter = 0
  const server: Server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", async () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        res.writeHead(404, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: { message: `Unknown path ${req.url}`, type: "invalid_request_error" } }))
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>
      if (record) calls.push({ path: req.url, headers: req.headers, body })
      const behaviour = queue.shift() ?? fallback
      const id = `chatcmpl-fake${++counter}`
      if (behaviour.kind === "hang") return
      if (behaviour.kind === "not-json") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end("<html>502 Bad Gateway</html>")
        return
      }
      if (behaviour.kind === "error") {
        res.writeHead(behaviour.status, { "content-type": "application/json", ...behaviour.headers })
        res.end(
          JSON.stringify({
            error: { message: behaviour.message, type: "invalid_request_error", param: null, code: null }
          })
        )
        return
      }
      if (behaviour.kind === "ok" && behaviour.delayMs) await sleep(behaviour.delayMs)
      const fault = behaviour.kind === "ok" ? undefined : behaviour.kind
      if (body.stream === true) return writeStream(res, body, id, fault, req.headers.authorization ?? "")
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(completion(body, id)))
    })
  })
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    queue,
    setDefault: (behaviour) => {
      fallback = behaviour
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
