// The floor any proxy on this stack pays: a bare Hono app on the runtime's own server that reads the request's body,
// forwards it with `fetch` to the same path of the upstream given as the first argument, and streams the answer back.
// Runs unchanged on node (via tsx), bun and deno; prints the port it listens on.
import { Hono } from "hono"

const runtime = globalThis as unknown as {
  Bun?: { serve(options: object): { port: number } }
  Deno?: { serve(options: object, handler: unknown): unknown; args: Array<string> }
}
const upstream = (runtime.Deno ? runtime.Deno.args : process.argv.slice(2))[0]!
const FORWARDED = ["content-type", "accept", "authorization", "x-api-key", "anthropic-version", "anthropic-beta"]

const app = new Hono()
app.post("*", async (c) => {
  const body = await c.req.arrayBuffer()
  const headers: Record<string, string> = {}
  for (const name of FORWARDED) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  const answer = await fetch(`${upstream}${new URL(c.req.url).pathname}`, { method: "POST", headers, body })
  return new Response(answer.body, {
    status: answer.status,
    headers: { "content-type": answer.headers.get("content-type") ?? "application/json" }
  })
})
if (runtime.Bun) {
  const server = runtime.Bun.serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 })
  console.log(`bare proxy listening on http://127.0.0.1:${server.port}`)
} else if (runtime.Deno) {
  runtime.Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }: { port: number }) => console.log(`bare proxy listening on http://127.0.0.1:${port}`)
  }, app.fetch)
} else {
  const { serve } = await import("@hono/node-server")
  serve(
    { fetch: app.fetch, hostname: "127.0.0.1", port: 0 },
    (info) => console.log(`bare proxy listening on http://127.0.0.1:${info.port}`)
  )
}
