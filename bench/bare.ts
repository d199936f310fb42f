// The baseline: a bare Hono app returning a fixed JSON body, served by the runtime's own server.
// Runs unchanged on node (via tsx), bun and deno; prints the port it listens on.
import { Hono } from "hono"

const body = {
  id: "chatcmpl-bare",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "A fixed answer." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 }
}
const app = new Hono()
app.all("*", (c) => c.json(body))

const runtime = globalThis as unknown as {
  Bun?: { serve(options: object): { port: number } }
  Deno?: { serve(options: object, handler: unknown): unknown }
}
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
