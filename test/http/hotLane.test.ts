import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type Gateway, startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"

// A chat POST that declares its length (what every HTTP client sends) takes the app's hot lane; one without (a
// chunked upload, or a Request built in process) goes through Hono. Both must answer alike, check for check.

let upstream: FakeOpenAI
let open: Gateway
let secured: Gateway

const quiet = { log: { info: () => undefined, warn: () => undefined } }
const start = (env: Record<string, string>) => startGateway({ env, readTextFile: async () => undefined }, quiet)

before(async () => {
  upstream = await startFakeOpenAI()
  const limits = { ISARTOR__MAX_BODY_BYTES: "2048", ISARTOR__L3_MAX_RETRIES: "0" }
  open = await start(upstreamEnv(upstream.url, limits))
  secured = await start(upstreamEnv(upstream.url, { ...limits, ISARTOR__GATEWAY_API_KEY: "gw-secret-key" }))
})
after(async () => {
  await open.dispose()
  await secured.dispose()
  await upstream.close()
})

type Lane = "hot" | "hono"
const LANES: ReadonlyArray<Lane> = ["hot", "hono"]

const post = (gateway: Gateway, lane: Lane, path: string, body: string, headers: Record<string, string> = {}) =>
  Promise.resolve(gateway.fetch(
    new Request(`http://gateway.test${path}`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        ...(lane === "hot" ? { "content-length": String(Buffer.byteLength(body)) } : {}),
        ...headers
      }
    })
  ))

/** What a client sees of an answer: status, content type, layer, and the body. */
const seen = async (response: Response) => ({
  status: response.status,
  type: response.headers.get("content-type"),
  layer: response.headers.get("x-isartor-layer"),
  body: (await response.json()) as unknown
})

const openai = (content: string) => JSON.stringify({ messages: [{ role: "user", content }] })
const anthropic = (content: string) =>
  JSON.stringify({ model: "claude", max_tokens: 5, messages: [{ role: "user", content }] })

describe("the hot lane and the Hono routes", () => {
  it("answer a bad request, a missing or wrong key and a body over the limit alike, in the client's format", async () => {
    const callsBefore = upstream.calls.length
    const cases: ReadonlyArray<[Gateway, string, string, Record<string, string>, number]> = [
      [open, "/v1/chat/completions", "{not json", {}, 400],
      [open, "/v1/chat/completions", openai("x".repeat(4000)), {}, 413],
      [open, "/v1/messages", anthropic("x".repeat(4000)), {}, 413],
      [open, "/api/chat", JSON.stringify({ prompt: "   " }), {}, 400],
      [open, "/v1/chat/completions", openai("hi"), { "x-isartor-similarity-threshold": "2" }, 400],
      [secured, "/v1/chat/completions", openai("hi"), {}, 401],
      [secured, "/v1/messages", anthropic("hi"), { "x-api-key": "nope-nope" }, 401],
      // The key is checked before the size, on both lanes.
      [secured, "/v1/messages", anthropic("x".repeat(4000)), {}, 401],
      [secured, "/api/chat", JSON.stringify({ prompt: "hi" }), { authorization: "Bearer gw-secret-kez" }, 401]
    ]
    for (const [gateway, path, body, headers, status] of cases) {
      const [hot, hono] = await Promise.all(
        LANES.map(async (lane) => seen(await post(gateway, lane, path, body, headers)))
      )
      assert.equal(hot!.status, status, `${path} ${body.slice(0, 40)}`)
      assert.deepEqual(hot, hono, `${path} ${body.slice(0, 40)}: the same answer on both lanes`)
    }
    const anthropic401 = await seen(await post(secured, "hot", "/v1/messages", anthropic("hi")))
    assert.deepEqual(anthropic401.body, {
      type: "error",
      error: {
        type: "authentication_error",
        message: "missing gateway API key: send X-API-Key: <key>, api-key: <key> or Authorization: Bearer <key>"
      }
    })
    assert.equal(upstream.calls.length, callsBefore, "no refused request reached the upstream")
  })

  it("share one cache: a miss on either lane is the other's exact hit, with the right key on a secured gateway", async () => {
    for (const [first, second] of [["hot", "hono"], ["hono", "hot"]] as const) {
      const body = openai(`a question first asked on the ${first} lane`)
      const key = { "x-api-key": "gw-secret-key" }
      const miss = await seen(await post(secured, first, "/v1/chat/completions", body, key))
      const hit = await seen(await post(secured, second, "/v1/chat/completions", body, key))
      assert.equal(miss.status, 200)
      assert.equal(miss.layer, "l3")
      assert.equal(hit.layer, "l1a", `asked again on the ${second} lane`)
      assert.deepEqual(hit.body, miss.body)
    }
  })

  it("leaves every other spelling of a chat path to Hono's routing", async () => {
    const body = openai("hi")
    const slash = await post(open, "hot", "/v1/chat/completions/", body)
    assert.equal(slash.status, 404)
    const query = await seen(await post(open, "hot", "/v1/chat/completions?x=1", body))
    assert.equal(query.status, 200, "a query string names the same route")
    const encoded = await seen(await post(open, "hot", "/v1/chat/%63ompletions", body))
    assert.equal(encoded.status, 200, "Hono decodes the path, as before")
  })
})
