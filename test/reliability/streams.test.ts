import Anthropic from "@anthropic-ai/sdk"
import assert from "node:assert/strict"
import { request as httpRequest } from "node:http"
import { describe, it } from "node:test"
import OpenAI from "openai"
import { type StreamEnd, tapSse } from "../../core/pipeline/SseTap.ts"
import type { ProviderId } from "../../core/providers/registry.ts"
import { relayStream } from "../../core/transport/relay.ts"
import { type FakeProviders, startFakeProviders, type StreamFault } from "../support/fakeProviders.ts"
import { fakeUpstreamGateways, type GatewaySetup, type RunningGateway } from "../support/gateway.ts"

/**
 * Streams whose upstream misbehaves — an error event quoting the provider key, a stream that just stops, an event
 * that is not JSON, a socket destroyed mid-answer — as the OpenAI and Anthropic clients of the gateway see them.
 */

// Key-shaped on purpose is not needed: the configured key itself must never reach a client, whatever its shape.
const KEY = "probe-secret-0123456789abcdef"

type Family = "openai" | "anthropic"

interface Target {
  readonly url: (base: string) => string
  readonly env?: Record<string, string>
}

const targets = {
  openai: { url: (base) => `${base}/v1` },
  azure: { url: (base) => base, env: { ISARTOR__AZURE_DEPLOYMENT_ID: "gpt-4o-prod" } },
  anthropic: { url: (base) => base },
  xai: { url: (base) => `${base}/v1` },
  gemini: { url: (base) => base },
  ollama: { url: (base) => base },
  "openai-compatible": { url: (base) => `${base}/v1/chat/completions` }
} satisfies Record<ProviderId, Target>

/** One of each wire format the fake speaks; the other providers share the OpenAI one's code. */
const wireFormats: ReadonlyArray<ProviderId> = ["openai", "anthropic", "gemini"]
const faults: ReadonlyArray<StreamFault> = ["truncate-stream", "malformed-stream", "break-stream"]

/** A gateway per provider, each on the one fake, retries off so that a test sees each fault once. */
const setups = {} as Record<ProviderId, (fake: FakeProviders) => GatewaySetup>
for (const [id, target] of Object.entries(targets) as Array<[ProviderId, Target]>) {
  setups[id] = (fake) => ({
    env: {
      ISARTOR__LLM_PROVIDER: id,
      ISARTOR__EXTERNAL_LLM_URL: target.url(fake.url),
      ISARTOR__L3_MAX_RETRIES: "0",
      ...target.env
    }
  })
}
const file = fakeUpstreamGateways(setups, { kind: "providers", key: KEY })
const { gateways } = file

let asked = 0
/** A question no earlier test asked, so no cache can answer it the first time. */
const fresh = (about: string) => `${about} #${++asked}`

interface Received {
  readonly layer: string | null
  readonly bytes: string
  readonly events: ReadonlyArray<{ readonly event: string | undefined; readonly data: string }>
}

/** A streamed request as a client sees it on the wire. */
const streamed = async (gateway: RunningGateway, family: Family, content: string): Promise<Received> => {
  const response = await fetch(`${gateway.url}${family === "openai" ? "/v1/chat/completions" : "/v1/messages"}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "model-a", max_tokens: 64, stream: true, messages: [{ role: "user", content }] })
  })
  const bytes = await response.text()
  const events = bytes.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n")
    return {
      event: lines.find((line) => line.startsWith("event: "))?.slice(7),
      data: lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n")
    }
  })
  return { layer: response.headers.get("x-isartor-layer"), bytes, events }
}

/** Asserts the stream ended with one error event in the client's format and nothing after it; returns its message. */
const assertEndsInError = (family: Family, received: Received): string => {
  const last = received.events[received.events.length - 1]
  assert.ok(last, "the stream has events")
  if (family === "openai") {
    const errors = received.events.filter((event) => event.data.includes("\"error\""))
    assert.equal(errors.length, 1, "one error event")
    const { error } = JSON.parse(last.data) as { error: { message: string } }
    assert.equal(typeof error?.message, "string", `the last event is an error event: ${last.data}`)
    assert.ok(!received.events.some((event) => event.data === "[DONE]"), "no [DONE]")
    return error.message
  }
  assert.equal(last.event, "error", `the last event is an error event: ${last.event} ${last.data}`)
  const body = JSON.parse(last.data) as { type: string; error: { type: string; message: string } }
  assert.equal(body.type, "error")
  assert.equal(body.error.type, "api_error")
  assert.equal(received.events.filter((event) => event.event === "error").length, 1, "one error event")
  const closing = received.events.filter((event) => event.event === "message_delta" || event.event === "message_stop")
  assert.deepEqual(closing, [], "no message_delta or message_stop: the answer did not finish")
  return body.error.message
}

describe("an upstream error event that quotes the provider key", () => {
  for (const id of Object.keys(targets) as Array<ProviderId>) {
    for (const family of ["openai", "anthropic"] as const) {
      it(`${id} → ${family} client: the key is in none of the bytes, and the error is the last event`, async () => {
        file.upstream.queue.push({ kind: "error-event-stream" })
        const received = await streamed(gateways[id], family, fresh(`quote the key ${id}`))
        assert.ok(!received.bytes.includes(KEY), "the key never reaches the client")
        const message = assertEndsInError(family, received)
        assert.match(message, /\[redacted\]/, "the message says where the key was")
      })
    }
  }
})

describe("a stream that does not finish", () => {
  for (const id of wireFormats) {
    for (const fault of faults) {
      for (const family of ["openai", "anthropic"] as const) {
        it(`${id}, ${fault} → ${family} client: ends in an error event, and is not cached`, async () => {
          const gateway = gateways[id]
          const question = fresh(`${fault} from ${id}`)
          file.upstream.queue.push({ kind: fault })
          assertEndsInError(family, await streamed(gateway, family, question))
          const calls = file.upstream.calls.length
          const again = await streamed(gateway, family, question)
          assert.equal(again.layer, "l3", "nothing from the failed stream was cached")
          assert.equal(file.upstream.calls.length, calls + 1)
        })
      }
    }
  }

  it("a stream that does finish is still cached: the next identical request is an exact-cache hit", async () => {
    for (const id of wireFormats) {
      for (const family of ["openai", "anthropic"] as const) {
        const gateway = gateways[id]
        const question = fresh(`a whole answer from ${id}`)
        const first = await streamed(gateway, family, question)
        assert.equal(first.layer, "l3")
        const last = first.events[first.events.length - 1]
        if (family === "openai") assert.equal(last?.data, "[DONE]")
        else assert.equal(last?.event, "message_stop")
        assert.ok(!first.bytes.includes("\"error\""))
        assert.equal((await streamed(gateway, family, question)).layer, "l1a", `${id} → ${family}`)
      }
    }
  })
})

describe("the official SDKs raise on a stream that failed", () => {
  for (const id of wireFormats) {
    for (const fault of [...faults, "error-event-stream"] as const) {
      it(`${id}, ${fault}: the openai SDK and the @anthropic-ai/sdk both throw`, async () => {
        const gateway = gateways[id]
        const openai = new OpenAI({ apiKey: "caller", baseURL: `${gateway.url}/v1`, maxRetries: 0 })
        file.upstream.queue.push({ kind: fault })
        const stream = await openai.chat.completions.create({
          model: "model-a",
          stream: true,
          messages: [{ role: "user", content: fresh(`sdk ${fault} ${id}`) }]
        })
        let text = ""
        const openaiError = await (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        })().then(() => undefined, (error: unknown) => error)
        assert.ok(openaiError instanceof Error, "the openai SDK throws")
        assert.ok(!openaiError.message.includes(KEY))
        assert.ok(text.length > 0, "the part before the failure was delivered")

        const anthropic = new Anthropic({ apiKey: "caller", baseURL: gateway.url, maxRetries: 0 })
        file.upstream.queue.push({ kind: fault })
        const message = anthropic.messages.stream({
          model: "model-b",
          max_tokens: 64,
          messages: [{ role: "user", content: fresh(`sdk ${fault} ${id}`) }]
        })
        const anthropicError = await message.finalMessage().then(() => undefined, (error: unknown) => error)
        assert.ok(anthropicError instanceof Anthropic.APIError, `the Anthropic SDK throws: ${String(anthropicError)}`)
        assert.ok(!anthropicError.message.includes(KEY))
      })
    }
  }
})

describe("SSE responses and the connection", () => {
  /** A streamed request over a socket of its own, asking for the given `Connection`; the response's `Connection`. */
  const connectionAfter = (gateway: RunningGateway, path: string, connection: string) =>
    new Promise<string | undefined>((resolve, reject) => {
      const request = httpRequest(
        `${gateway.url}${path}`,
        { method: "POST", agent: false, headers: { connection, "content-type": "application/json" } },
        (response) => {
          response.resume()
          response.on("end", () => resolve(response.headers.connection))
        }
      )
      request.on("error", reject)
      const messages = [{ role: "user", content: fresh("connection") }]
      request.end(JSON.stringify({ model: "m", max_tokens: 64, stream: true, messages }))
    })

  it("honours a client's Connection: close, and keeps a keep-alive connection open", async () => {
    const gateway = gateways.openai
    for (const path of ["/v1/chat/completions", "/v1/messages"]) {
      assert.equal(await connectionAfter(gateway, path, "close"), "close", path)
      assert.equal(await connectionAfter(gateway, path, "keep-alive"), "keep-alive", path)
    }
  })
})

describe("the provider relay and the tap under awkward upstream framing", () => {
  const encoder = new TextEncoder()
  /** `text` as a stream of pieces of the given sizes, cycling, cut anywhere: mid-event, mid-line, mid-character. */
  const pieces = (text: string, sizes: ReadonlyArray<number>) => {
    const bytes = encoder.encode(text)
    return new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0, n = 0; at < bytes.length; n++) {
          const size = sizes[n % sizes.length]!
          controller.enqueue(bytes.slice(at, at + size))
          at += size
        }
        controller.close()
      }
    })
  }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => {
    const choices = [{ index: 0, delta, finish_reason: finish }]
    return JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "m", choices })
  }

  const withoutKey = (text: string) => text.replaceAll(KEY, "[redacted]")
  const redact = { error: withoutKey, text: withoutKey }

  it("passes a whole stream on byte for byte however it is cut (CRLF, comments, multi-byte text)", async () => {
    const upstream = [
      ": keep-alive\r\n\r\n",
      // Some servers put `"error": null` on every chunk: not an error.
      `data: ${chunk({ role: "assistant", content: "" }).replace(/}$/, ",\"error\":null}")}\r\n\r\n`,
      `data: ${chunk({ content: "Grüße 🌍 " })}\n\n`,
      `event: message\ndata: ${chunk({ content: "und tschüss" })}\n\n`,
      `data: ${chunk({}, "stop")}\r\r`,
      "data: [DONE]\n\n"
    ].join("")
    for (const sizes of [[1], [3, 7], [5, 64], [upstream.length]]) {
      const ends: Array<StreamEnd> = []
      const relayed = relayStream(pieces(upstream, sizes), redact)
      const received = await new Response(tapSse(relayed, (end) => ends.push(end), String)).text()
      assert.equal(received, upstream, `pieces of ${sizes.join(", ")} bytes`)
      assert.equal(ends.length, 1)
      assert.equal(ends[0]?._tag, "Finished")
      const end = ends[0]
      assert.equal(end?._tag === "Finished" && end.completion.choices[0]?.message.content, "Grüße 🌍 und tschüss")
    }
  })

  it("scrubs an error event cut into pieces mid-key, and passes nothing on after it", async () => {
    const error = JSON.stringify({ error: { message: `bad key ${KEY}`, param: { header: `Bearer ${KEY}` } } })
    const rest = `data: ${chunk({}, "stop")}\n\ndata: [DONE]\n\n`
    const upstream = `data: ${chunk({ content: "half" })}\n\ndata: ${error}\n\n${rest}`
    for (const sizes of [[3], [1, 9], [upstream.length]]) {
      const received = await new Response(relayStream(pieces(upstream, sizes), redact)).text()
      assert.ok(!received.includes(KEY), `pieces of ${sizes.join(", ")} bytes`)
      const events = received.split("\n\n").filter((event) => event !== "")
      assert.equal(events.length, 2)
      const scrubbed = { error: { message: "bad key [redacted]", param: { header: "Bearer [redacted]" } } }
      assert.deepEqual(JSON.parse(events[1]!.slice(6)), scrubbed)
    }
  })

  it("treats an event named error as an error: scrubbed, the last event, and the stream failed", async () => {
    const error = `event: error\ndata: {"message":"overloaded: Bearer ${KEY}"}\n\n`
    const upstream = `data: ${chunk({ content: "half" })}\n\n${error}`
    const ends: Array<StreamEnd> = []
    const relayed = relayStream(pieces(`${upstream}data: [DONE]\n\n`, [5]), redact)
    const tapped = tapSse(relayed, (end) => ends.push(end), String)
    const received = await new Response(tapped).text()
    assert.equal(received, upstream.replace(KEY, "[redacted]"))
    assert.deepEqual(ends, [{ _tag: "Failed", message: "overloaded: Bearer [redacted]" }])
  })

  it("drops whatever follows an upstream error event, and never reports it finished", async () => {
    const before = `data: ${chunk({ content: "half" })}\n\ndata: {"error":{"message":"overloaded"}}\n\n`
    const upstream = `${before}data: ${chunk({}, "stop")}\n\ndata: [DONE]\n\n`
    const ends: Array<StreamEnd> = []
    const received = await new Response(tapSse(pieces(upstream, [4]), (end) => ends.push(end), String)).text()
    assert.equal(received, before)
    assert.deepEqual(ends, [{ _tag: "Failed", message: "overloaded" }])
  })
})
