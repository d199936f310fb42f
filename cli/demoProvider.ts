import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * The demo's cloud provider: an OpenAI-style Chat Completions endpoint on a loopback port of this process, which
 * answers after `latencyMs` (what a cloud round trip costs) with a text derived from the prompt. No key, no network.
 */
export const startDemoProvider = async (latencyMs: number) => {
  let calls = 0
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = ""
    request.on("data", (chunk: Buffer) => (body += chunk.toString()))
    request.on("end", () => {
      calls++
      const parsed = JSON.parse(body || "{}") as { model?: string; messages?: Array<{ content?: unknown }> }
      const prompt = String(parsed.messages?.at(-1)?.content ?? "")
      setTimeout(() => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify({
          id: `chatcmpl-demo-${calls}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: parsed.model ?? "demo",
          choices: [{
            index: 0,
            message: { role: "assistant", content: `(demo answer) You asked: ${prompt}` },
            finish_reason: "stop"
          }],
          usage: { prompt_tokens: 12, completion_tokens: 24, total_tokens: 36 }
        }))
      }, latencyMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    calls: () => calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
