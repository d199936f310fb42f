import { Effect, Redacted } from "effect"
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { originFor } from "../../cli/proxy/gateway.ts"
import { type Gateway, startGateway } from "../../core/Gateway.ts"
import type { PassThroughOrigin } from "../../core/providers/passThrough/PassThrough.ts"
import { eventually } from "../support/eventually.ts"

// The gateway as `isartor proxy` uses it, in process: a request handed over with its origin is answered by that
// origin (the proxy's own send, here a canned answer), cached, and in the ledger; nothing leaves the process.

const COMPLETION = {
  id: "chatcmpl-origin",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "Paris." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
}

let gateway: Gateway
before(async () => {
  gateway = await startGateway({
    env: {
      ISARTOR__LLM_PROVIDER: "openai-compatible",
      // Never asked: a request without an origin that reached it would fail, not leave loopback.
      ISARTOR__EXTERNAL_LLM_URL: "http://127.0.0.1:9/v1",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__ENABLE_MONITORING: "false"
    },
    readTextFile: async () => undefined
  }, { log: { info: () => {}, warn: () => {} } })
})
after(() => gateway.dispose())

const origin = (send: () => Promise<Response>, credential = "ghu_secret_token"): PassThroughOrigin & {
  readonly sent: () => number
} => {
  let sent = 0
  return {
    host: "api.githubcopilot.test",
    credentials: [Redacted.make(credential)],
    send: () => {
      sent++
      return send()
    },
    sent: () => sent
  }
}

const chat = (question: string, token = "ghu_secret_token") =>
  new Request("http://isartor-proxy/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: question }] })
  })

describe("Gateway.passThrough", () => {
  it("asks the request's own origin on a miss, answers the repeat from L1a, and records both in the ledger", async () => {
    const host = origin(async () => Response.json(COMPLETION))
    const first = await gateway.passThrough(chat("Capital of France, via the origin?"), host)
    assert.equal(first.status, 200)
    assert.equal(first.headers.get("x-isartor-layer"), "l3")
    assert.equal(first.headers.get("x-isartor-provider"), "api.githubcopilot.test")
    assert.equal(((await first.json()) as typeof COMPLETION).choices[0]!.message.content, "Paris.")
    const second = await gateway.passThrough(chat("Capital of France, via the origin?"), host)
    assert.equal(second.headers.get("x-isartor-layer"), "l1a")
    await second.arrayBuffer()
    assert.equal(host.sent(), 1, "the origin was asked once")
    const rows = await eventually(async () => {
      const recent = await Effect.runPromise(gateway.usage.recent(10))
      const mine = recent.filter((row) => row.provider === "api.githubcopilot.test" || row.layer === "l1a")
      return mine.length >= 2 ? mine : undefined
    }, { what: "the two requests in the ledger" })
    assert.ok(rows.some((row) => row.layer === "l3" && row.provider === "api.githubcopilot.test"))
  })

  it("never names the client's credential when its origin cannot be reached", async () => {
    const host = origin(
      () => Promise.reject(new Error("connect refused, with ghu_leaky_token in it")),
      "ghu_leaky_token"
    )
    const answer = await gateway.passThrough(chat("Unreachable origin?", "ghu_leaky_token"), host)
    assert.equal(answer.status, 502)
    const text = await answer.text()
    assert.match(text, /cannot reach api\.githubcopilot\.test/)
    assert.doesNotMatch(text, /ghu_leaky_token/)
  })

  it("answers a request without an origin from the configured chain, never from another request's origin", async () => {
    const answer = await gateway.fetch(chat("Capital of Spain, with no origin?"))
    assert.notEqual(answer.headers.get("x-isartor-provider"), "api.githubcopilot.test")
    assert.notEqual(answer.status, 200, "the configured provider (nothing listens on its port) did not answer")
    await answer.arrayBuffer()
  })
})

/** An Anthropic Messages stream as a host sends it: its input tokens up front, its output tokens at the end. */
const ANTHROPIC_STREAM = [
  {
    type: "message_start",
    message: {
      id: "msg_origin",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [],
      stop_reason: null,
      usage: { input_tokens: 21, output_tokens: 1 }
    }
  },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Rome." } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 3 } },
  { type: "message_stop" }
].map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("")

const messages = (question: string, stream: boolean) =>
  new Request("http://isartor-proxy/v1/messages", {
    method: "POST",
    headers: {
      "x-api-key": "sk-ant-secret-token",
      "anthropic-version": "2023-06-01",
      "content-type": "application/json"
    },
    body: JSON.stringify({
      model: "claude-sonnet-4-5",
      max_tokens: 64,
      stream,
      messages: [{ role: "user", content: question }]
    })
  })

/** The `data:` events of an SSE body, parsed. */
const eventsOf = (text: string) =>
  text.split("\n").filter((line) => line.startsWith("data: ")).map((line) =>
    JSON.parse(line.slice(6)) as {
      type?: string
      message?: { usage?: Record<string, number> }
      usage?: Record<string, number>
    }
  )

describe("Gateway.passThrough, Anthropic", () => {
  it("hands on a streamed answer's token counts, as the host sent them", async () => {
    const host = origin(
      async () => new Response(ANTHROPIC_STREAM, { headers: { "content-type": "text/event-stream" } }),
      "sk-ant-secret-token"
    )
    const answer = await gateway.passThrough(messages("Capital of Italy, streamed via the origin?", true), host)
    assert.equal(answer.status, 200)
    const events = eventsOf(await answer.text())
    const start = events.find((event) => event.type === "message_start")
    const delta = events.find((event) => event.type === "message_delta")
    assert.equal(start?.message?.usage?.input_tokens, 21)
    assert.equal(delta?.usage?.output_tokens, 3)
  })
})

describe("Gateway.passThrough, a client with two credentials", () => {
  const where = { host: "api.example.test", port: 443, connectHost: "127.0.0.1", connectPort: 9 }
  const twoKeys = () =>
    new Headers({
      authorization: "Bearer SECRET_C_token",
      "x-api-key": "SECRET_D_token",
      "content-type": "application/json"
    })
  const asked = (question: string, stream = false) =>
    new Request("http://isartor-proxy/v1/chat/completions", {
      method: "POST",
      headers: twoKeys(),
      body: JSON.stringify({ model: "gpt-4o", stream, messages: [{ role: "user", content: question }] })
    })
  const hostRequest = { ...where, path: "/v1/chat/completions", headers: {}, body: Buffer.from("") }

  it("names neither when its host cannot be reached", async () => {
    const { origin: host } = originFor(
      hostRequest,
      twoKeys(),
      { wrapped: false },
      () => Promise.reject(new Error("boom SECRET_C_token SECRET_D_token"))
    )
    const answer = await gateway.passThrough(asked("Two keys, unreachable host?"), host)
    assert.equal(answer.status, 502)
    const text = await answer.text()
    assert.match(text, /cannot reach api\.example\.test/)
    assert.doesNotMatch(text, /SECRET_C_token|SECRET_D_token/)
  })

  it("names neither in a streamed answer's error event", async () => {
    const failing = `data: ${JSON.stringify({ error: { message: "quota of SECRET_C_token and SECRET_D_token" } })}\n\n`
    const { origin: host } = originFor(
      hostRequest,
      twoKeys(),
      { wrapped: false },
      async () => new Response(failing, { headers: { "content-type": "text/event-stream" } })
    )
    const answer = await gateway.passThrough(asked("Two keys, a stream that fails?", true), host)
    const text = await answer.text()
    assert.match(text, /quota of/)
    assert.doesNotMatch(text, /SECRET_C_token|SECRET_D_token/)
  })
})

describe("Gateway.passThrough, one credential to two hosts", () => {
  it("asks each host on its own: the first host's answer is never the second's", async () => {
    const first = { ...origin(async () => Response.json(COMPLETION)), host: "api.first.test" }
    const second = {
      ...origin(async () =>
        Response.json({
          ...COMPLETION,
          choices: [{ ...COMPLETION.choices[0]!, message: { role: "assistant", content: "Lyon." } }]
        })
      ),
      host: "api.second.test"
    }
    const one = await gateway.passThrough(chat("Same question, two hosts?"), first)
    assert.equal(one.headers.get("x-isartor-provider"), "api.first.test")
    await one.arrayBuffer()
    const two = await gateway.passThrough(chat("Same question, two hosts?"), second)
    assert.equal(two.headers.get("x-isartor-layer"), "l3")
    assert.equal(two.headers.get("x-isartor-provider"), "api.second.test")
    assert.equal(((await two.json()) as typeof COMPLETION).choices[0]!.message.content, "Lyon.")
  })
})
