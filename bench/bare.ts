// The baseline: a bare Hono app returning a fixed JSON body, served by the runtime's own server.
// Runs unchanged on node (via tsx), bun and deno; prints the port it listens on. With arguments, the first is the
// fixed body and the second (JSON) headers to send with it: bench/overhead.ts passes the gateway's own exact-hit
// answer and headers, so both servers send responses of the same size. With `--read-body` it reads each request's
// body before answering, as the gateway must: the fastest a server that reads what it is sent can go.
import { Hono } from "hono"

const body = {
  id: "chatcmpl-bare",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "A fixed answer." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 }
}
const runtime = globalThis as unknown as {
  Bun?: { serve(options: object): { port: number } }
  Deno?: { serve(options: object, handler: unknown): unknown; args: Array<string> }
}
const args = runtime.Deno ? runtime.Deno.args : process.argv.slice(2)
const readBody = args.includes("--read-body")
const [given, givenHeaders] = args.filter((arg) => arg !== "--read-body")
const headers = { "content-type": "application/json", ...JSON.parse(givenHeaders ?? "{}") as Record<string, string> }
const app = new Hono()
if (readBody) {
  app.all("*", async (c) => {
    await c.req.text()
    return given === undefined ? c.json(body) : c.body(given, 200, headers)
  })
} else if (given === undefined) app.all("*", (c) => c.json(body))
else app.all("*", (c) => c.body(given, 200, headers))
if (runtime.Bun) {
  const server = runtime.Bun.serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 })
  console.log(`bare listening on http://127.0.0.1:${server.port}`)
} else if (runtime.Deno) {
  runtime.Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }: { port: number }) => console.log(`bare listening on http://127.0.0.1:${port}`)
  }, app.fetch)
} else {
  const { serve } = await import("@hono/node-server")
  serve(
    { fetch: app.fetch, hostname: "127.0.0.1", port: 0 },
    (info) => console.log(`bare listening on http://127.0.0.1:${info.port}`)
  )
}
