import assert from "node:assert/strict"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { whileFollowersWait } from "../support/coalescing.ts"
import { eventually } from "../support/eventually.ts"
import { answerFor } from "../support/fakeOpenAI.ts"
import { fakeUpstreamGateway, startTestGateway, TEST_PROVIDER_KEY, upstreamEnv } from "../support/gateway.ts"

const file = fakeUpstreamGateway({ env: { ISARTOR__L3_MAX_RETRIES: "0" } })

const client = (apiKey = "caller-key-1", extra: ConstructorParameters<typeof OpenAI>[0] = {}) =>
  new OpenAI({ apiKey, baseURL: `${file.gateway.url}/v1`, maxRetries: 0, ...extra })

const ask = (content: string) => ({ model: "gpt-4o-mini", messages: [{ role: "user" as const, content }] })

describe("OpenAI SDK through the gateway", () => {
  it("answers a miss from the file.upstream, then the identical request from L1a without calling upstream", async () => {
    const first = await client().chat.completions.create(ask("What is the capital of France?")).withResponse()
    assert.equal(first.response.headers.get("x-isartor-layer"), "l3")
    assert.equal(first.response.headers.get("x-isartor-deflected"), "false")
    assert.equal(first.data.choices[0]?.message.content, "Answer #1 to: What is the capital of France?")
    assert.equal(first.data.object, "chat.completion")
    assert.ok(first.data.id && first.data.created && first.data.model && first.data.usage)

    const second = await client().chat.completions.create(ask("What is the capital of France?")).withResponse()
    assert.equal(second.response.headers.get("x-isartor-layer"), "l1a")
    assert.equal(second.response.headers.get("x-isartor-deflected"), "true")
    assert.deepEqual(second.data, first.data)
    assert.equal(file.upstream.calls.length, 1)
  })

  it("sends the provider key file.upstream, never the caller's key", async () => {
    await client("caller-secret").chat.completions.create(ask("whose key?"))
    assert.equal(file.upstream.calls[0]?.headers.authorization, `Bearer ${TEST_PROVIDER_KEY}`)
  })

  it("streams as SSE passed through from file.upstream, then replays the same answer from L1a as a stream", async () => {
    const collect = async (prompt: string) => {
      const { data: stream, response } = await client().chat.completions.create({ ...ask(prompt), stream: true })
        .withResponse()
      assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/)
      let text = ""
      let chunks = 0
      let finish: string | null = null
      for await (const chunk of stream) {
        chunks++
        text += chunk.choices[0]?.delta.content ?? ""
        finish = chunk.choices[0]?.finish_reason ?? finish
      }
      return { text, chunks, finish, layer: response.headers.get("x-isartor-layer") }
    }
    const first = await collect("Tell me a streamed story")
    assert.equal(first.layer, "l3")
    assert.equal(first.text, answerFor({ messages: [{ role: "user", content: "Tell me a streamed story" }] }))
    assert.ok(first.chunks > 3, "upstream chunks arrive as separate events")
    assert.equal(first.finish, "stop")
    const second = await collect("Tell me a streamed story")
    assert.equal(second.layer, "l1a")
    assert.equal(second.text, first.text)
    assert.equal(second.finish, "stop")
    assert.equal(file.upstream.calls.length, 1)
  })

  it("shares one entry between a streamed and a plain request", async () => {
    const stream = await client().chat.completions.create({ ...ask("shared entry"), stream: true })
    let streamed = ""
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? ""
    const plain = await client().chat.completions.create(ask("shared entry")).withResponse()
    assert.equal(plain.response.headers.get("x-isartor-layer"), "l1a")
    assert.equal(plain.data.choices[0]?.message.content, streamed)

    await client().chat.completions.create(ask("plain first"))
    const replay = await client().chat.completions.create({ ...ask("plain first"), stream: true }).withResponse()
    assert.equal(replay.response.headers.get("x-isartor-layer"), "l1a")
    let text = ""
    for await (const chunk of replay.data) text += chunk.choices[0]?.delta.content ?? ""
    assert.equal(text, "Answer #1 to: plain first")
    assert.equal(file.upstream.calls.length, 2)
  })

  it("never shares an entry between different gateway keys", async () => {
    await client("tenant-a").chat.completions.create(ask("tenant question"))
    const other = await client("tenant-b").chat.completions.create(ask("tenant question")).withResponse()
    assert.equal(other.response.headers.get("x-isartor-layer"), "l3")
    const same = await client("tenant-a").chat.completions.create(ask("tenant question")).withResponse()
    assert.equal(same.response.headers.get("x-isartor-layer"), "l1a")
    assert.equal(file.upstream.calls.length, 2)
  })

  it("keeps sessions apart when X-Isartor-Session-Id is sent", async () => {
    const inSession = (id: string) => client("k", { defaultHeaders: { "x-isartor-session-id": id } })
    await inSession("s1").chat.completions.create(ask("session question"))
    const other = await inSession("s2").chat.completions.create(ask("session question")).withResponse()
    const again = await inSession("s1").chat.completions.create(ask("session question")).withResponse()
    assert.equal(other.response.headers.get("x-isartor-layer"), "l3")
    assert.equal(again.response.headers.get("x-isartor-layer"), "l1a")
  })

  /** Sends concurrent identical requests, and lets the upstream answer once all but one follow the call in flight. */
  const whileHeld = <A>(followers: number, send: () => Promise<A>) =>
    whileFollowersWait(file.gateway.url, file.upstream, followers, send)

  it("coalesces 20 concurrent identical misses into one upstream call", async () => {
    const answers = await whileHeld(19, () =>
      Promise.all(
        Array.from({ length: 20 }, () => client().chat.completions.create(ask("coalesce me")).withResponse())
      ))
    assert.equal(file.upstream.calls.length, 1)
    for (const { data, response } of answers) {
      assert.equal(data.choices[0]?.message.content, "Answer #1 to: coalesce me")
      assert.equal(response.headers.get("x-isartor-layer"), "l3", "answered by the shared call, not the cache")
    }
  })

  it("coalesces concurrent streamed misses: one upstream call, every client gets the whole answer", async () => {
    const texts = await whileHeld(4, () =>
      Promise.all(Array.from({ length: 5 }, async () => {
        const stream = await client().chat.completions.create({ ...ask("coalesced stream"), stream: true })
        let text = ""
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        return text
      })))
    assert.equal(file.upstream.calls.length, 1)
    for (const text of texts) assert.equal(text, "Answer #1 to: coalesced stream")
  })

  it("honours Cache-Control: no-cache (skip lookup) and no-store (skip write)", async () => {
    const withCacheControl = (value: string) => client("k", { defaultHeaders: { "cache-control": value } })
    await client("k").chat.completions.create(ask("cache control"))
    const fresh = await withCacheControl("no-cache").chat.completions.create(ask("cache control")).withResponse()
    assert.equal(fresh.response.headers.get("x-isartor-layer"), "l3")

    await withCacheControl("no-store").chat.completions.create(ask("not stored"))
    const after = await client("k").chat.completions.create(ask("not stored")).withResponse()
    assert.equal(after.response.headers.get("x-isartor-layer"), "l3")
    assert.equal(file.upstream.calls.length, 4)
  })

  it("passes an upstream 429 on with Retry-After, and does not cache it", async () => {
    file.upstream.queue.push({
      kind: "error",
      status: 429,
      message: "Rate limit reached",
      headers: { "retry-after": "7" }
    })
    const error = await client().chat.completions.create(ask("rate limited")).catch((e: unknown) => e)
    assert.ok(error instanceof OpenAI.RateLimitError)
    assert.equal(error.headers?.get("retry-after"), "7")
    assert.match(error.message, /provider openai: Rate limit reached/)
    const retry = await client().chat.completions.create(ask("rate limited")).withResponse()
    assert.equal(retry.response.headers.get("x-isartor-layer"), "l3")
  })

  it("passes an upstream 400 on with its message", async () => {
    file.upstream.queue.push({ kind: "error", status: 400, message: "Invalid value for 'temperature'" })
    const error = await client().chat.completions.create(ask("bad temperature")).catch((e: unknown) => e)
    assert.ok(error instanceof OpenAI.BadRequestError)
    assert.match(error.message, /Invalid value for 'temperature'/)
  })

  it("turns an upstream 500 and a rejected provider key into 502, without echoing the key", async () => {
    file.upstream.queue.push({ kind: "error", status: 500, message: "The server had an error" })
    const serverError = await client().chat.completions.create(ask("boom")).catch((e: unknown) => e)
    assert.ok(serverError instanceof OpenAI.APIError)
    assert.equal(serverError.status, 502)

    file.upstream.queue.push({
      kind: "error",
      status: 401,
      message: `Incorrect API key provided: ${TEST_PROVIDER_KEY}.`
    })
    const keyError = await client().chat.completions.create(ask("bad key")).catch((e: unknown) => e)
    assert.ok(keyError instanceof OpenAI.APIError)
    assert.equal(keyError.status, 502)
    assert.doesNotMatch(JSON.stringify(keyError.error), /sk-test/)
    assert.match(keyError.message, /Incorrect API key provided: \[redacted\]/)
  })

  it("cancels the upstream stream when the client goes away, caches nothing, and keeps serving", async () => {
    file.upstream.setDefault({ kind: "ok", delayMs: 0 })
    const controller = new AbortController()
    const response = await fetch(`${file.gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...ask("a long story the client abandons with many many words in it"), stream: true }),
      signal: controller.signal
    })
    const reader = response.body!.getReader()
    await reader.read()
    controller.abort()
    await reader.closed.catch(() => undefined)
    // The upstream's stream was cut before its end: the gateway never saw the answer finish, so it cannot cache it.
    await eventually(
      () => file.upstream.abandoned.some((call) => call.raw.includes("the client abandons")),
      { what: "the gateway to cancel the upstream stream" }
    )
    const again = await client().chat.completions.create(
      ask("a long story the client abandons with many many words in it")
    ).withResponse()
    assert.equal(again.response.headers.get("x-isartor-layer"), "l3")
    assert.equal(
      again.data.choices[0]?.message.content,
      "Answer #1 to: a long story the client abandons with many many words in it"
    )
  })

  it("ends a stream that breaks mid-way with an error the SDK raises, and caches nothing", async () => {
    file.upstream.queue.push({ kind: "break-stream" })
    const stream = await client().chat.completions.create({ ...ask("broken stream words here"), stream: true })
    let text = ""
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    })().catch((e: unknown) => e)
    assert.ok(error instanceof Error, "the SDK raises on the error event")
    assert.ok(text.length > 0, "the part before the break was delivered")
    const retry = await client().chat.completions.create(ask("broken stream words here")).withResponse()
    assert.equal(retry.response.headers.get("x-isartor-layer"), "l3")
  })
})

describe("upstream unreachable or slow", () => {
  it("answers 502 when the upstream cannot be reached", async () => {
    const gateway = await startTestGateway(upstreamEnv("http://127.0.0.1:9/v1", { ISARTOR__L3_MAX_RETRIES: "0" }))
    try {
      const sdk = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const error = await sdk.chat.completions.create(ask("anyone there?")).catch((e: unknown) => e)
      assert.ok(error instanceof OpenAI.APIError)
      assert.equal(error.status, 502)
      assert.match(error.message, /cannot reach 127\.0\.0\.1:9/)
    } finally {
      await gateway.close()
    }
  })

  it("answers 502 when the upstream exceeds l3_timeout_secs", async () => {
    const gateway = await startTestGateway(
      upstreamEnv(file.upstream.url, { ISARTOR__L3_TIMEOUT_SECS: "1", ISARTOR__L3_MAX_RETRIES: "0" })
    )
    file.upstream.queue.push({ kind: "hang" })
    try {
      const sdk = new OpenAI({ apiKey: "k", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
      const error = await sdk.chat.completions.create(ask("slow")).catch((e: unknown) => e)
      assert.ok(error instanceof OpenAI.APIError)
      assert.equal(error.status, 502)
      assert.match(error.message, /no answer within 1 s/)
    } finally {
      await gateway.close()
    }
  })

  it("starts without a provider key, warns once, and answers a miss with a 502 that says so", async () => {
    const gateway = await startTestGateway({ ISARTOR__EXTERNAL_LLM_URL: file.upstream.url })
    try {
      assert.equal(gateway.warnings.length, 1)
      assert.match(gateway.warnings[0]!, /no API key for provider openai/)
      const response = await fetch(`${gateway.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ prompt: "hi" })
      })
      assert.equal(response.status, 502)
      assert.match(
        ((await response.json()) as { error: { message: string } }).error.message,
        /no provider key is configured/
      )
    } finally {
      await gateway.close()
    }
  })
})
