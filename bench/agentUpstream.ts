// The agent bench's upstream, in its own process: it reads each request's body whole (as a provider does) and answers
// with a canned stream in the wire format of the path asked — Anthropic's Messages API or OpenAI's Responses API —
// recorded once at start from the shared provider fake, so that its cost does not grow with the body. The first
// event is written at once and the rest on the next turn of the loop, so a proxy that buffers the answer shows in
// its time to first byte. `POST /bench/hold` holds every stream open after its first event until
// `POST /bench/release`: how the bench keeps many streams open at once to measure memory.
// Usage: node --import tsx bench/agentUpstream.ts
import { createServer, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { startFakeProviders } from "../test/support/fakeProviders.ts"

export const AGENT_UPSTREAM_KEY = "sk-bench-0000000000000000"

const record = async () => {
  const fake = await startFakeProviders(AGENT_UPSTREAM_KEY, {
    record: false,
    model: { promptTokens: 41_000, reply: () => ({ kind: "text", text: "Done: the change is applied and tested." }) }
  })
  const fetchStream = async (path: string, headers: Record<string, string>, body: unknown) => {
    const response = await fetch(`${fake.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
    return Buffer.from(await response.arrayBuffer())
  }
  const messages = await fetchStream(
    "/v1/messages",
    { "x-api-key": AGENT_UPSTREAM_KEY, "anthropic-version": "2023-06-01" },
    { model: "claude-opus-5-5", max_tokens: 100, stream: true, messages: [{ role: "user", content: "hi" }] }
  )
  const responses = await fetchStream(
    "/v1/responses",
    { authorization: `Bearer ${AGENT_UPSTREAM_KEY}` },
    { model: "gpt-5-codex", stream: true, store: false, input: "hi" }
  )
  const chat = await fetchStream(
    "/v1/chat/completions",
    { authorization: `Bearer ${AGENT_UPSTREAM_KEY}` },
    { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "hi" }] }
  )
  await fake.close()
  return { "/v1/messages": messages, "/v1/responses": responses, "/v1/chat/completions": chat }
}

const canned = await record()
/** Splits a stream after its first event. */
const split = (stream: Buffer): [Buffer, Buffer] => {
  const end = stream.indexOf("\n\n")
  return end < 0 ? [stream, Buffer.alloc(0)] : [stream.subarray(0, end + 2), stream.subarray(end + 2)]
}
const streams = new Map(Object.entries(canned).map(([path, stream]) => [path, split(stream)]))

let held: Array<() => void> | undefined
const server = createServer((req, res: ServerResponse) => {
  let bytes = 0
  req.on("data", (chunk: Buffer) => (bytes += chunk.length))
  req.on("end", () => {
    const path = (req.url ?? "/").replace(/\?.*$/, "")
    if (path === "/bench/hold") {
      held = []
      return void res.writeHead(204).end()
    }
    if (path === "/bench/release") {
      const waiting = held ?? []
      held = undefined
      for (const release of waiting) release()
      return void res.writeHead(200, { "content-type": "application/json" }).end(`{"released":${waiting.length}}`)
    }
    const stream = streams.get(path)
    if (stream === undefined || bytes === 0) {
      return void res.writeHead(404, { "content-type": "application/json" }).end(`{"error":"no ${path}"}`)
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
    res.write(stream[0])
    const rest = () => res.end(stream[1])
    if (held) held.push(rest)
    else setImmediate(rest)
  })
})
server.listen(
  0,
  "127.0.0.1",
  () => console.log(`upstream listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
)
process.once("SIGTERM", () => server.close(() => process.exit(0)))
