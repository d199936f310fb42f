import assert from "node:assert/strict"
import { readFile } from "node:fs/promises"
import { after, before, describe, it } from "node:test"
import { type Gateway, type GatewayOptions, startGateway } from "../../core/Gateway.ts"
import { VERSION } from "../../core/version.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { makeMovableClock } from "../support/movableClock.ts"

let upstream: FakeOpenAI
let gateway: Gateway
let secured: Gateway

const quiet = { log: { info: () => undefined, warn: () => undefined } }
const start = (env: Record<string, string>, options: GatewayOptions = {}) =>
  startGateway({ env, readTextFile: async () => undefined }, { ...quiet, ...options })

before(async () => {
  upstream = await startFakeOpenAI()
  gateway = await start(upstreamEnv(upstream.url, { ISARTOR__MAX_BODY_BYTES: "2048", ISARTOR__L3_MAX_RETRIES: "0" }))
  secured = await start(
    upstreamEnv(upstream.url, {
      ISARTOR__GATEWAY_API_KEY: "gw-secret-key",
      ISARTOR__MAX_BODY_BYTES: "2048",
      ISARTOR__L3_MAX_RETRIES: "0"
    })
  )
})
after(async () => {
  await gateway.dispose()
  await secured.dispose()
  await upstream.close()
})

const call = (target: Gateway, path: string, init: RequestInit = {}) =>
  Promise.resolve(target.fetch(new Request(`http://gateway.test${path}`, init)))

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  call(gateway, path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } })

const errorOf = async (response: Response) => ((await response.json()) as { error: { message: string } }).error.message

describe("HTTP surface", () => {
  it("answers /healthz, /health and /v1/models", async () => {
    const healthz = await call(gateway, "/healthz")
    assert.deepEqual(await healthz.json(), { status: "ok" })
    const health = (await (await call(gateway, "/health")).json()) as {
      version: string
      uptime_secs: number
      layers: Record<string, { status: string }>
    }
    assert.equal(health.version, VERSION)
    assert.equal(typeof health.uptime_secs, "number")
    assert.equal(health.layers.l1a?.status, "ok")
    assert.equal(health.layers.l3?.status, "ok")
    assert.deepEqual(Object.keys(health.layers).sort(), ["l1a", "l1b", "l2", "l3"])
    const models = (await (await call(gateway, "/v1/models")).json()) as { object: string; data: Array<{ id: string }> }
    assert.equal(models.object, "list")
    assert.equal(models.data[0]?.id, "gpt-4o-mini")
  })

  it("serves the native /api/chat format, then the same prompt from L1a", async () => {
    const first = await post("/api/chat", JSON.stringify({ prompt: "native hello" }))
    assert.equal(first.headers.get("x-isartor-layer"), "l3")
    assert.deepEqual(await first.json(), { layer: 3, message: "Answer #1 to: native hello", model: "gpt-4o-mini" })
    const second = await post("/api/chat", JSON.stringify({ prompt: "native hello" }))
    assert.equal(second.headers.get("x-isartor-deflected"), "true")
    assert.deepEqual(await second.json(), { layer: 1, message: "Answer #1 to: native hello", model: "gpt-4o-mini" })
    const other = await post("/api/chat", JSON.stringify({ prompt: "native hello", model: "gpt-4o" }))
    assert.equal(((await other.json()) as { model: string }).model, "gpt-4o")
  })

  it("rejects bad input with a 4xx JSON error that says what is wrong, and stores nothing", async () => {
    const callsBefore = upstream.calls.length
    const cases: Array<[string, string, number, RegExp]> = [
      ["/v1/chat/completions", "{not json", 400, /not valid JSON/],
      ["/v1/chat/completions", "", 400, /empty/],
      ["/v1/chat/completions", "[1,2]", 400, /must be a JSON object/],
      ["/v1/chat/completions", JSON.stringify({ model: "m" }), 400, /messages: required/],
      ["/v1/chat/completions", JSON.stringify({ messages: [] }), 400, /messages: required, a non-empty array/],
      [
        "/v1/chat/completions",
        JSON.stringify({ messages: [{ role: "robot", content: "x" }] }),
        400,
        /messages\[0\]\.role/
      ],
      [
        "/v1/chat/completions",
        JSON.stringify({ messages: [{ role: "user", content: "x" }], temperature: "hot" }),
        400,
        /temperature/
      ],
      [
        "/v1/chat/completions",
        JSON.stringify({ messages: [{ role: "user", content: 42 }] }),
        400,
        /messages\[0\]\.content/
      ],
      ["/api/chat", JSON.stringify({ prompt: "   " }), 400, /prompt: must not be empty/],
      ["/api/chat", JSON.stringify({ prompt: 7 }), 400, /prompt/],
      ["/api/chat", JSON.stringify({}), 400, /prompt/],
      [
        "/v1/chat/completions",
        JSON.stringify({ messages: [{ role: "user", content: "x".repeat(4000) }] }),
        413,
        /larger than 2048 bytes/
      ]
    ]
    for (const [path, body, status, message] of cases) {
      const response = await post(path, body)
      assert.equal(response.status, status, `${body.slice(0, 60)} → ${status}`)
      assert.match(response.headers.get("content-type") ?? "", /application\/json/)
      assert.match(await errorOf(response), message)
    }
    assert.equal(upstream.calls.length, callsBefore, "no bad request reached the upstream")
    const unknown = await call(gateway, "/v1/nothing-here")
    assert.equal(unknown.status, 404)
    assert.match(await errorOf(unknown), /no route for GET \/v1\/nothing-here/)
  })

  it("does not cache an upstream failure", async () => {
    upstream.queue.push({ kind: "error", status: 503, message: "overloaded" })
    const failed = await post("/api/chat", JSON.stringify({ prompt: "fails once" }))
    assert.equal(failed.status, 502)
    assert.equal(failed.headers.get("x-isartor-layer"), "l3")
    const retried = await post("/api/chat", JSON.stringify({ prompt: "fails once" }))
    assert.equal(retried.status, 200)
    assert.equal(retried.headers.get("x-isartor-layer"), "l3")
  })
})

describe("exact-cache bounds through HTTP", () => {
  it("evicts the least recently used answer past cache_max_capacity, and expires answers after cache_ttl_secs", async () => {
    const time = makeMovableClock()
    const small = await start(
      upstreamEnv(upstream.url, { ISARTOR__CACHE_MAX_CAPACITY: "2", ISARTOR__CACHE_TTL_SECS: "60" }),
      { clock: time.clock }
    )
    const ask = async (prompt: string) =>
      (await small.fetch(
        new Request("http://gateway.test/api/chat", { method: "POST", body: JSON.stringify({ prompt }) })
      ))
        .headers.get("x-isartor-layer")
    try {
      assert.equal(await ask("one"), "l3")
      assert.equal(await ask("two"), "l3")
      assert.equal(await ask("one"), "l1a")
      assert.equal(await ask("three"), "l3") // evicts "two", the least recently used
      assert.equal(await ask("two"), "l3")
      assert.equal(await ask("three"), "l1a")
      time.advance(59_999)
      assert.equal(await ask("three"), "l1a", "still held within cache_ttl_secs")
      time.advance(2)
      assert.equal(await ask("three"), "l3", "expired after cache_ttl_secs")
    } finally {
      await small.dispose()
    }
  })
})

describe("gateway auth", () => {
  it("leaves /healthz open and guards every other route", async () => {
    assert.equal((await call(secured, "/healthz")).status, 200)
    for (const path of ["/health", "/v1/models", "/nowhere"]) {
      const response = await call(secured, path)
      assert.equal(response.status, 401, path)
      assert.match(await errorOf(response), /missing gateway API key/)
    }
    const chat = await call(secured, "/api/chat", { method: "POST", body: JSON.stringify({ prompt: "hi" }) })
    assert.equal(chat.status, 401)
  })

  it("accepts X-API-Key or Authorization: Bearer, and rejects a wrong key", async () => {
    assert.equal((await call(secured, "/health", { headers: { "x-api-key": "gw-secret-key" } })).status, 200)
    assert.equal((await call(secured, "/health", { headers: { authorization: "Bearer gw-secret-key" } })).status, 200)
    const wrong = await call(secured, "/health", { headers: { authorization: "Bearer gw-secret-kez" } })
    assert.equal(wrong.status, 401)
    assert.match(await errorOf(wrong), /invalid gateway API key/)
    const prefix = await call(secured, "/health", { headers: { "x-api-key": "gw-secret" } })
    assert.equal(prefix.status, 401)
  })

  it("accepts the api-key header Azure SDKs send", async () => {
    assert.equal((await call(secured, "/health", { headers: { "api-key": "gw-secret-key" } })).status, 200)
    assert.equal((await call(secured, "/health", { headers: { "api-key": "gw-secret-kez" } })).status, 401)
  })

  it("answers a 401 in the client's format: Anthropic's on /v1/messages, OpenAI's elsewhere", async () => {
    const anthropicBody = JSON.stringify({
      model: "claude",
      max_tokens: 5,
      messages: [{ role: "user", content: "hi" }]
    })
    const messages = await call(secured, "/v1/messages", {
      method: "POST",
      body: anthropicBody,
      headers: { "x-api-key": "nope-nope" }
    })
    assert.equal(messages.status, 401)
    assert.deepEqual(await messages.json(), {
      type: "error",
      error: { type: "authentication_error", message: "invalid gateway API key" }
    })
    const openaiBody = JSON.stringify({ messages: [{ role: "user", content: "hi" }] })
    const completions = await call(secured, "/v1/chat/completions", { method: "POST", body: openaiBody })
    assert.equal(completions.status, 401)
    const error = ((await completions.json()) as { error: { type: string; message: string } }).error
    assert.equal(error.type, "authentication_error")
    assert.match(error.message, /missing gateway API key/)
  })
})

describe("cache scope by the caller's credential", () => {
  const ask = async (prompt: string, headers: Record<string, string>) => {
    const response = await post("/api/chat", JSON.stringify({ prompt }), headers)
    assert.equal(response.status, 200)
    return response.headers.get("x-isartor-layer")
  }

  it("keeps callers apart whichever header carries their key, and serves each caller its own entry", async () => {
    const forms: Array<[string, (key: string) => Record<string, string>]> = [
      ["api-key", (key) => ({ "api-key": key })],
      ["bare Authorization", (key) => ({ authorization: key })],
      ["Authorization: Basic", (key) => ({ authorization: `Basic ${Buffer.from(`user:${key}`).toString("base64")}` })],
      ["x-goog-api-key", (key) => ({ "x-goog-api-key": key })],
      ["x-api-key", (key) => ({ "x-api-key": key })],
      ["Authorization: Bearer", (key) => ({ authorization: `Bearer ${key}` })]
    ]
    for (const [form, headers] of forms) {
      const prompt = `scoped by ${form}`
      assert.equal(await ask(prompt, headers("key-of-alice")), "l3", form)
      assert.equal(await ask(prompt, headers("key-of-alice")), "l1a", `${form}: the same caller is served from cache`)
      assert.equal(await ask(prompt, headers("key-of-bob")), "l3", `${form}: another caller does not get that answer`)
      assert.equal(await ask(prompt, {}), "l3", `${form}: nor does an anonymous caller`)
    }
  })

  it("scopes by every credential a caller sends, and treats one key in two headers as one caller", async () => {
    assert.equal(await ask("two headers", { "x-api-key": "key-one", "api-key": "deployment-a" }), "l3")
    assert.equal(await ask("two headers", { "x-api-key": "key-one", "api-key": "deployment-b" }), "l3")
    assert.equal(await ask("two headers", { "x-api-key": "key-one", "api-key": "deployment-a" }), "l1a")
    assert.equal(await ask("same key", { "x-api-key": "key-two" }), "l3")
    assert.equal(await ask("same key", { authorization: "Bearer key-two" }), "l1a")
  })
})

describe("package", () => {
  it("reports the version package.json has", async () => {
    const pkg = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string
    }
    assert.equal(VERSION, pkg.version)
  })
})

// A chat POST that declares its length (what every HTTP client sends) enters the exact-hit lane, which answers the
// exact hits it can and hands the rest to Hono; one without (a chunked upload, or a Request built in process) goes
// through Hono alone. Both must answer alike, check for check (test/http/exactHitLane.test.ts: byte for byte).
type Lane = "hot" | "hono"
const LANES: ReadonlyArray<Lane> = ["hot", "hono"]

const postOn = (target: Gateway, lane: Lane, path: string, body: string, headers: Record<string, string> = {}) =>
  Promise.resolve(target.fetch(
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

/** What a client sees of an answer: status, the headers clients act on, and the body. */
const seenOf = async (response: Response) => ({
  status: response.status,
  type: response.headers.get("content-type"),
  layer: response.headers.get("x-isartor-layer"),
  retry: response.headers.get("x-should-retry"),
  authenticate: response.headers.get("www-authenticate"),
  body: (await response.json()) as unknown
})

const openai = (content: string) => JSON.stringify({ messages: [{ role: "user", content }] })
const anthropic = (content: string) =>
  JSON.stringify({ model: "claude", max_tokens: 5, messages: [{ role: "user", content }] })

describe("the hot lane and the Hono routes", () => {
  it("answer a bad request, a missing or wrong key and a body over the limit alike, in the client's format", async () => {
    const callsBefore = upstream.calls.length
    const cases: ReadonlyArray<[Gateway, string, string, Record<string, string>, number]> = [
      [gateway, "/v1/chat/completions", "{not json", {}, 400],
      [gateway, "/v1/chat/completions", openai("x".repeat(4000)), {}, 413],
      [gateway, "/v1/messages", anthropic("x".repeat(4000)), {}, 413],
      [gateway, "/api/chat", JSON.stringify({ prompt: "   " }), {}, 400],
      [gateway, "/v1/chat/completions", openai("hi"), { "x-isartor-similarity-threshold": "2" }, 400],
      [secured, "/v1/chat/completions", openai("hi"), {}, 401],
      [secured, "/v1/messages", anthropic("hi"), { "x-api-key": "nope-nope" }, 401],
      // The key is checked before the size, on both lanes.
      [secured, "/v1/messages", anthropic("x".repeat(4000)), {}, 401],
      [secured, "/api/chat", JSON.stringify({ prompt: "hi" }), { authorization: "Bearer gw-secret-kez" }, 401]
    ]
    for (const [target, path, body, headers, status] of cases) {
      const [hot, hono] = await Promise.all(
        LANES.map(async (lane) => seenOf(await postOn(target, lane, path, body, headers)))
      )
      assert.equal(hot!.status, status, `${path} ${body.slice(0, 40)}`)
      assert.deepEqual(hot, hono, `${path} ${body.slice(0, 40)}: the same answer on both lanes`)
    }
    const anthropic401 = await seenOf(await postOn(secured, "hot", "/v1/messages", anthropic("hi")))
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
      const miss = await seenOf(await postOn(secured, first, "/v1/chat/completions", body, key))
      const hit = await seenOf(await postOn(secured, second, "/v1/chat/completions", body, key))
      assert.equal(miss.status, 200)
      assert.equal(miss.layer, "l3")
      assert.equal(hit.layer, "l1a", `asked again on the ${second} lane`)
      assert.deepEqual(hit.body, miss.body)
    }
  })

  it("leaves every other spelling of a chat path to Hono's routing", async () => {
    const body = openai("hi")
    const slash = await postOn(gateway, "hot", "/v1/chat/completions/", body)
    assert.equal(slash.status, 404)
    const query = await seenOf(await postOn(gateway, "hot", "/v1/chat/completions?x=1", body))
    assert.equal(query.status, 200, "a query string names the same route")
    const encoded = await seenOf(await postOn(gateway, "hot", "/v1/chat/%63ompletions", body))
    assert.equal(encoded.status, 200, "Hono decodes the path, as before")
  })
})
