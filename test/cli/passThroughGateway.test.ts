import { Effect, Redacted } from "effect"
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
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
    credential: Redacted.make(credential),
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
