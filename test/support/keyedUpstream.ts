import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A loopback OpenAI-compatible upstream that answers each key as the test says: 200, a 429 with `Retry-After`, a
 * 401, a 500 — for key pools, breakers and retry budgets. Its 401 echoes the whole key, as a careless upstream
 * might: the gateway must still never show it.
 */
export type KeyAnswer =
  | { readonly status: 200 }
  | { readonly status: number; readonly retryAfterSecs?: number }

export interface KeyedCall {
  readonly key: string
  readonly model: string
}

export interface KeyedUpstream {
  /** The OpenAI base URL (`…/v1`). */
  readonly url: string
  readonly calls: Array<KeyedCall>
  /** Each key's answer from now on; a key not named here answers 200. */
  readonly answers: Map<string, KeyAnswer>
  /** Calls to `GET /v1/models`, the background health check's. */
  readonly modelListings: { count: number }
  close(): Promise<void>
}

const errorBody = (status: number, key: string) => ({
  error: status === 401
    ? { message: `Incorrect API key provided: ${key}.`, type: "invalid_request_error", code: "invalid_api_key" }
    : status === 429
    ? { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" }
    : { message: "The server had an error while processing your request.", type: "server_error", code: null }
})

export const startKeyedUpstream = async (): Promise<KeyedUpstream> => {
  const calls: Array<KeyedCall> = []
  const answers = new Map<string, KeyAnswer>()
  const modelListings = { count: 0 }
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const key = (req.headers.authorization ?? "").replace(/^Bearer /, "")
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers })
        res.end(JSON.stringify(body))
      }
      if (req.method === "GET" && req.url === "/v1/models") {
        modelListings.count++
        const answer = answers.get(key) ?? { status: 200 }
        return answer.status === 200
          ? send(200, { object: "list", data: [{ id: "gpt-4o-mini", object: "model" }] })
          : send(answer.status, errorBody(answer.status, key))
      }
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") return send(404, errorBody(404, key))
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model: string }
      calls.push({ key, model: body.model })
      const answer = answers.get(key) ?? { status: 200 }
      if (answer.status !== 200) {
        const retryAfter: Record<string, string> = "retryAfterSecs" in answer && answer.retryAfterSecs !== undefined
          ? { "retry-after": String(answer.retryAfterSecs) }
          : {}
        return send(answer.status, errorBody(answer.status, key), retryAfter)
      }
      send(200, {
        id: `chatcmpl-${calls.length}`,
        object: "chat.completion",
        created: 1,
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    answers,
    modelListings,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
