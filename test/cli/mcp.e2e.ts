import { serve } from "@hono/node-server"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import assert from "node:assert/strict"
import { createServer } from "node:net"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { projectRoot } from "../support/processes.ts"
import { run, userEnv } from "./run.ts"

// `isartor mcp` as Claude Desktop starts it: a command speaking MCP over stdio, here driven by the SDK's own stdio
// client, forwarding to a running gateway with the gateway key.

const KEY = "gw-key-mcp-stdio"
let upstream: FakeOpenAI
let gateway: RunningGateway
const users: Array<ReturnType<typeof userEnv>> = []
before(async () => {
  upstream = await startFakeOpenAI()
  gateway = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__GATEWAY_API_KEY: KEY }))
})
after(async () => {
  await gateway.close()
  await upstream.close()
  for (const user of users) user.cleanup()
})

/** `isartor mcp` started by an MCP client, with `env` (a clean user's, plus what the client's config sets). */
const startMcp = async (env: Record<string, string>) => {
  const user = userEnv(env)
  users.push(user)
  const stderr: Array<string> = []
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(projectRoot, "bin/isartor"), "mcp"],
    env: user.env,
    cwd: user.home,
    stderr: "pipe"
  })
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()))
  const client = new Client({ name: "mcp-e2e", version: "1.0.0" })
  return { client, transport, stderr, connected: client.connect(transport) }
}

const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

describe("isartor mcp (stdio)", () => {
  it("lists the tools, stores and finds an answer the gateway then serves on /v1/chat/completions", async () => {
    // As `isartor connect claude-desktop` writes the entry: the URL and the key in the server's environment.
    const { client, connected } = await startMcp({ ISARTOR_URL: gateway.url, ISARTOR_API_KEY: KEY })
    await connected
    const { tools } = await client.listTools()
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ["cache_lookup", "cache_store", "gateway_status"])

    const question = "What is the tallest mountain in Germany?"
    const missing = await client.callTool({ name: "cache_lookup", arguments: { prompt: question } })
    assert.equal((missing.structuredContent as { found: boolean }).found, false)
    const stored = await client.callTool({ name: "cache_store", arguments: { prompt: question, answer: "Zugspitze." } })
    assert.equal((stored.structuredContent as { stored: boolean }).stored, true)
    const found = await client.callTool({ name: "cache_lookup", arguments: { prompt: question } })
    assert.deepEqual(found.content, [{ type: "text", text: "Zugspitze." }])

    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ messages: [{ role: "user", content: question }] })
    })
    assert.equal(response.headers.get("x-isartor-layer"), "l1a")
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> }
    assert.equal(body.choices[0]?.message.content, "Zugspitze.")

    const status = await client.callTool({ name: "gateway_status", arguments: {} })
    assert.equal((status.structuredContent as { health: { status: string } }).health.status, "ok")
    await client.close()
  })

  it("takes the key from ISARTOR__GATEWAY_API_KEY, and says so when the gateway refuses it", async () => {
    const accepted = await startMcp({ ISARTOR_URL: gateway.url, ISARTOR__GATEWAY_API_KEY: KEY })
    await accepted.connected
    assert.equal((await accepted.client.listTools()).tools.length, 3)
    await accepted.client.close()

    const refused = await startMcp({ ISARTOR_URL: gateway.url, ISARTOR_API_KEY: "not-the-key" })
    await assert.rejects(refused.connected, /refused the key/)
    await refused.client.close()
  })

  it("opens a new session when the gateway restarted under it", async () => {
    /** A gateway on `port` (0: any), as `isartor up` would run one again on the same port. */
    const listen = async (port: number) => {
      const started = await startGateway(
        { env: upstreamEnv(upstream.url, { ISARTOR__GATEWAY_API_KEY: KEY }), readTextFile: async () => undefined },
        { log: { info: () => undefined, warn: () => undefined } }
      )
      const server = serve({ fetch: started.fetch, hostname: "127.0.0.1", port })
      await new Promise<void>((resolve) => server.once("listening", () => resolve()))
      const close = () =>
        new Promise<void>((resolve) => {
          if ("closeAllConnections" in server) server.closeAllConnections()
          server.close(() => void started.dispose().then(() => resolve()))
        })
      return { port: (server.address() as { port: number }).port, close }
    }
    const first = await listen(0)
    const { client, connected, stderr } = await startMcp({
      ISARTOR_URL: `http://127.0.0.1:${first.port}`,
      ISARTOR_API_KEY: KEY
    })
    await connected
    assert.equal((await client.listTools()).tools.length, 3)
    await first.close()
    const second = await listen(first.port)
    try {
      // The restarted gateway knows no session: the command opens one and the call goes through.
      const status = await client.callTool({ name: "gateway_status", arguments: {} })
      assert.equal((status.structuredContent as { health: { status: string } }).health.status, "ok")
      assert.match(stderr.join(""), /a new one is open/)
    } finally {
      await client.close()
      await second.close()
    }
  })

  it("ends when its client closes stdin", async () => {
    const user = userEnv({ ISARTOR_URL: gateway.url, ISARTOR_API_KEY: KEY })
    users.push(user)
    // `run` gives the command no stdin: it has ended before the first message.
    const result = await run(["mcp"], user.env)
    assert.deepEqual([result.code, result.stdout], [0, ""], result.stderr)
  })

  it("says clearly that no gateway is running, and exits 1", async () => {
    const user = userEnv({ ISARTOR_URL: `http://127.0.0.1:${await closedPort()}` })
    users.push(user)
    const result = await run(["mcp"], user.env)
    assert.equal(result.code, 1)
    assert.match(result.stderr, /no gateway is running at http:\/\/127\.0\.0\.1:\d+/)
    assert.match(result.stderr, /isartor up -d/)
    assert.equal(result.stdout, "", "stdout is the MCP channel: nothing else goes there")
  })
})
