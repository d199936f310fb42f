import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { eventually } from "../support/eventually.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// An agent that cannot point its model at the gateway (Claude Desktop, Cursor's agent) uses its caches through MCP:
// the official SDK's client over Streamable HTTP, against the gateway's own fetch.

const KEY = "gw-mcp-key"
const model = await loadUseLite()
const hnswlib = await loadHnswlib()

const file = fakeUpstreamGateway({
  env: { ISARTOR__GATEWAY_API_KEY: KEY, ISARTOR__CACHE_MODE: "both" },
  semantic: { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }
})

const BASE = "http://gateway.test"
const inProcess = (input: string | URL | Request, init?: RequestInit) =>
  Promise.resolve(file.gateway.gateway.fetch(new Request(input, init)))

/** An MCP client of the gateway; `headers` are sent with every request (the key, a session of the caches). */
const connect = async (headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: inProcess,
    requestInit: { headers }
  })
  const client = new Client({ name: "mcp-test", version: "1.0.0" })
  await client.connect(transport)
  return { client, transport }
}

type Structured = Record<string, unknown>
const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => {
  const result = await client.callTool({ name, arguments: args })
  assert.notEqual(result.isError, true, JSON.stringify(result))
  return result.structuredContent as Structured
}

const chat = (prompt: string, headers: Record<string, string> = {}) =>
  inProcess(`${BASE}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content: prompt }] })
  })

describe("MCP server over Streamable HTTP", () => {
  it("lists the cache and status tools", async () => {
    const { client } = await connect()
    const { tools } = await client.listTools()
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ["cache_lookup", "cache_store", "gateway_status"])
    const lookup = tools.find((tool) => tool.name === "cache_lookup")!
    assert.deepEqual(lookup.inputSchema.required, ["prompt"])
    await client.close()
  })

  it("stores an answer, finds it, and serves it to the same question on /v1/chat/completions", async () => {
    const { client } = await connect()
    const question = "What is the capital of Bavaria?"
    assert.equal((await call(client, "cache_lookup", { prompt: question })).found, false)

    const stored = await call(client, "cache_store", { prompt: question, answer: "Munich." })
    assert.equal(stored.stored, true)
    const found = await call(client, "cache_lookup", { prompt: question })
    assert.equal(found.found, true)
    assert.equal(found.answer, "Munich.")
    assert.equal(found.layer, "l1a")

    const before = file.upstream.calls.length
    const response = await chat(question)
    assert.equal(response.headers.get("x-isartor-layer"), "l1a")
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> }
    assert.equal(body.choices[0]?.message.content, "Munich.")
    assert.equal(file.upstream.calls.length, before, "answered from the cache, not the provider")
    await client.close()
  })

  it("finds an answer a provider gave on /v1/chat/completions, and a paraphrase of it in L1b", async () => {
    const question = "How do I reset my wireless router to factory settings?"
    const answered = await chat(question)
    assert.equal(answered.headers.get("x-isartor-layer"), "l3")
    const text = ((await answered.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message
      .content

    const { client } = await connect()
    const exact = await call(client, "cache_lookup", { prompt: question })
    assert.deepEqual([exact.found, exact.layer, exact.answer], [true, "l1a", text])
    // L1b takes an answer beside the request, not before it.
    const paraphrase = await eventually(async () => {
      const found = await call(client, "cache_lookup", {
        prompt: "How can I reset my wireless router to its factory settings?"
      })
      return found.found === true ? found : undefined
    }, { what: "the paraphrase found in L1b" })
    assert.equal(paraphrase.layer, "l1b")
    assert.equal(paraphrase.answer, text)
    assert.equal(typeof paraphrase.similarity, "number")
    await client.close()
  })

  it("keeps each caller's entries in its scope", async () => {
    const one = await connect({ authorization: `Bearer ${KEY}`, "x-isartor-session-id": "caller-one" })
    const other = await connect({ authorization: `Bearer ${KEY}`, "x-isartor-session-id": "caller-two" })
    const question = "Which river runs through Munich?"
    await call(one.client, "cache_store", { prompt: question, answer: "The Isar." })
    assert.equal((await call(one.client, "cache_lookup", { prompt: question })).found, true)
    assert.equal((await call(other.client, "cache_lookup", { prompt: question })).found, false)
    await one.client.close()
    await other.client.close()
  })

  it("reads the gateway's health and today's savings", async () => {
    const { client } = await connect()
    await chat("Name one lake in Bavaria.")
    await chat("Name one lake in Bavaria.")
    await Effect.runPromise(file.gateway.gateway.usage.flush)
    const status = await call(client, "gateway_status")
    const health = status.health as { status: string; layers: Record<string, { status: string }> }
    assert.equal(health.status, "ok")
    assert.equal(health.layers.l1a?.status, "ok")
    const today = status.today as { requests: number; layers: Record<string, number>; deflection_rate: number }
    assert.ok(today.requests >= 2, JSON.stringify(today))
    assert.ok((today.layers.l1a ?? 0) >= 1, JSON.stringify(today))
    assert.ok(today.deflection_rate > 0 && today.deflection_rate <= 1)
    await client.close()
  })

  it("is refused without the gateway key", async () => {
    await assert.rejects(connect({}), /401|invalid_api_key|gateway API key/)
    await assert.rejects(connect({ authorization: "Bearer wrong" }), /401|invalid gateway API key/)
    const response = await inProcess(`${BASE}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
    })
    assert.equal(response.status, 401)
  })

  it("ends a session on DELETE; its id is then unknown", async () => {
    const { client, transport } = await connect()
    const id = transport.sessionId
    assert.ok(id)
    await transport.terminateSession()
    const response = await inProcess(`${BASE}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${KEY}`,
        "mcp-session-id": id
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" })
    })
    assert.equal(response.status, 404)
    await client.close()
  })

  it("answers a request without a session, or with a body that is not JSON, with a JSON-RPC error", async () => {
    const headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${KEY}`
    }
    const noSession = await inProcess(`${BASE}/mcp`, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
    })
    assert.equal(noSession.status, 400)
    assert.match(((await noSession.json()) as { error: { message: string } }).error.message, /initialize/)
    const notJson = await inProcess(`${BASE}/mcp`, { method: "POST", headers, body: "{nope" })
    assert.equal(notJson.status, 400)
    assert.equal(((await notJson.json()) as { error: { code: number } }).error.code, -32700)
  })
})
