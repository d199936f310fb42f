import assert from "node:assert/strict"
import { readFile } from "node:fs/promises"
import { describe, it } from "node:test"
import { whileFollowersWait } from "../support/coalescing.ts"
import { type FakeProviders, PROMPT_TOKENS } from "../support/fakeProviders.ts"
import { fakeUpstreamGateways, type RunningGateway } from "../support/gateway.ts"
import { type DriverFactory, makeTap, routeOf } from "./driver.ts"

/**
 * The compatibility matrix: every client in `clients`, through the gateway, against an OpenAI-format and an
 * Anthropic-format upstream (one fake server speaks both). The gateway keeps its default retries (2) with a 1 ms
 * backoff, so a failing prompt costs 3 upstream calls.
 */
export type UpstreamFormat = "openai" | "anthropic"
export const upstreamFormats: ReadonlyArray<UpstreamFormat> = ["openai", "anthropic"]
export const GATEWAY_ATTEMPTS = 3
const CONCURRENT = 5

export interface CompatUpstreams {
  readonly providers: () => FakeProviders
  readonly gateway: (format: UpstreamFormat) => RunningGateway
  /** Model calls the fake upstream has received (token counts left out). */
  readonly modelCalls: () => number
}

/** Starts the fake upstream and one gateway per upstream format for the calling test file. */
export const compatUpstreams = (extraEnv: Record<string, string> = {}): CompatUpstreams => {
  // Every client in this suite shares one gateway and expects its retries (GATEWAY_ATTEMPTS), and each failing case
  // checks its own answer: the retry budget, which would ration retries across clients, and the breaker, which
  // would answer the cases after a few failures 503 (a client retrying that waits out its cool-off), have tests of
  // their own (test/providers/breaker.test.ts).
  const common = {
    ISARTOR__CACHE_MODE: "exact",
    ISARTOR__L3_RETRY_BASE_MS: "1",
    ISARTOR__RETRY_BUDGET_MIN_RETRIES: "100000",
    ISARTOR__BREAKER_COOLOFF_SECS: "0",
    ...extraEnv
  }
  const file = fakeUpstreamGateways({
    openai: { env: common },
    anthropic: (upstream) => ({
      env: { ISARTOR__LLM_PROVIDER: "anthropic", ISARTOR__EXTERNAL_LLM_URL: upstream.url, ...common }
    })
  }, { kind: "providers" })
  return {
    providers: () => file.upstream,
    gateway: (format) => file.gateways[format],
    modelCalls: () => file.upstream.calls.filter((call) => !call.path.includes("count_tokens")).length
  }
}

/** What the fake model answers a single question (see `think` in fakeProviders.ts). */
export const answerTo = (prompt: string, system?: string) =>
  `Answer to: ${prompt} | system: ${system ?? "none"} | turns: 1`

/** Whether the client's API is the upstream's own, so that the gateway passes the request through. */
const sameFormat = (api: string, format: UpstreamFormat) =>
  format === "openai" ? api === "chat" || api === "responses" : api === "messages"

let keys = 0
/** A caller key of its own, so that no two cases share cache entries. */
const freshKey = () => `compat-caller-${process.pid}-${++keys}`

/** Runs the matrix for `clients`; returns the file's upstreams for further tests. */
export const compatSuite = (
  clients: ReadonlyArray<DriverFactory>,
  extraEnv: Record<string, string> = {}
): CompatUpstreams => {
  const upstreams = compatUpstreams(extraEnv)
  for (const format of upstreamFormats) {
    for (const client of clients) {
      describe(`${client.name} → gateway → ${format}-format upstream`, () => {
        const driver = (maxRetries = 0) => {
          const tap = makeTap()
          const options = { url: upstreams.gateway(format).url, apiKey: freshKey(), tap, maxRetries }
          return { tap, driver: client.make(options) }
        }
        const prompt = (what: string) => `${what} (${client.name}, ${format})`

        for (const stream of [false, true]) {
          const kind = stream ? "streamed" : "plain"
          it(`answers a ${kind} miss from the upstream, then the identical request from L1a`, async () => {
            const { tap, driver: d } = driver()
            const question = prompt(`What is the capital of France, ${kind}?`)
            const before = upstreams.modelCalls()
            const first = await d.ask(question, { stream })
            const text = answerTo(question)
            assert.deepEqual(first, { text, inputTokens: PROMPT_TOKENS, outputTokens: text.split(/(?<= )/).length })
            assert.deepEqual(tap.layers, ["l3"])
            assert.equal(upstreams.modelCalls(), before + 1)
            assert.deepEqual(await d.ask(question, { stream }), first, "the same answer and usage from the cache")
            assert.deepEqual(tap.layers, ["l3", "l1a"])
            assert.equal(upstreams.modelCalls(), before + 1, "the cached answer makes no upstream call")
            const route = routeOf[d.api]
            assert.deepEqual(tap.paths, [route, route])
            if (sameFormat(d.api, format)) {
              // Same API on both sides: the upstream gets the client's bytes and protocol headers.
              const call = upstreams.providers().calls.at(-1)!
              assert.equal(typeof tap.bodies[0], "string")
              assert.equal(call.raw, tap.bodies[0])
              if (format === "anthropic") {
                // Every Anthropic client sends its API version: it reaches the upstream as sent, and so does a beta.
                assert.ok(tap.headers[0]!.get("anthropic-version"), "the client sent anthropic-version")
                for (const name of ["anthropic-version", "anthropic-beta"]) {
                  assert.equal(call.headers[name], tap.headers[0]!.get(name) ?? undefined, name)
                }
              }
            }
          })
        }

        for (const stream of [false, true]) {
          const kind = stream ? "streamed" : "plain"
          it(
            `coalesces ${CONCURRENT} concurrent identical ${kind} misses into one upstream call`,
            async () => {
              const question = prompt(`Concurrent question, ${kind}?`)
              const key = freshKey()
              const taps = Array.from({ length: CONCURRENT }, () => makeTap())
              const before = upstreams.modelCalls()
              const { url } = upstreams.gateway(format)
              const answers = await whileFollowersWait(url, upstreams.providers(), CONCURRENT - 1, () =>
                Promise.all(
                  taps.map((tap) => client.make({ url, apiKey: key, tap, maxRetries: 0 }).ask(question, { stream }))
                ))
              assert.equal(upstreams.modelCalls() - before, 1)
              for (const answer of answers) assert.equal(answer.text, answerTo(question))
              // Each caller joined the one upstream call before it answered: none was answered from the cache.
              assert.deepEqual(taps.map((tap) => tap.layers), taps.map(() => ["l3"]))
            }
          )
        }

        for (const fault of ["break-stream", "truncate-stream"] as const) {
          const what = fault === "break-stream" ? "breaks off" : "ends without finishing"
          it(`raises a stream the upstream ${what} as an error, and does not cache it`, async (t) => {
            if (client.name.startsWith("LangChain") && client.api === "responses") {
              // It drops `error` events, OpenAI's own included: the answer just ends short. responses.test.ts checks
              // the event itself.
              return t.skip("LangChain's Responses stream ignores error events")
            }
            const { tap, driver: d } = driver()
            const question = prompt(`A story that ${what}, with enough words to break?`)
            upstreams.providers().queue.push({ kind: fault })
            const before = upstreams.modelCalls()
            await assert.rejects(d.ask(question, { stream: true }))
            assert.equal(upstreams.modelCalls(), before + 1, "a stream that has begun is not retried")
            assert.equal((await d.ask(question, { stream: true })).text, answerTo(question))
            assert.equal(tap.layers.at(-1), "l3", "the broken answer was not cached")
          })
        }

        it("carries the system prompt to the model", async () => {
          const { driver: d } = driver()
          const question = prompt("Who are you?")
          const system = "You are a terse pirate."
          assert.equal((await d.ask(question, { system })).text, answerTo(question, system))
        })

        for (const stream of [false, true]) {
          it(`does a ${stream ? "streamed" : "plain"} tool round trip: the call reaches the client, the result the model`, async () => {
            const { tap, driver: d } = driver()
            const question = prompt(`Weather in Munich, ${stream ? "streamed" : "plain"}?`)
            const before = upstreams.modelCalls()
            const result = await d.toolRoundTrip(question, { stream })
            assert.equal(result.name, "get_weather")
            assert.deepEqual(result.args, { query: question })
            assert.match(result.answer, /^Tool said: "?sunny"?$/)
            assert.deepEqual(tap.layers, ["l3", "l3"])
            assert.equal(upstreams.modelCalls(), before + 2)
          })
        }

        // The gateway retries 429 and 5xx (then says x-should-retry: false), never a 400, and turns a failure of its own
        // (a 5xx, the provider key rejected) into a 502.
        const failures = [
          { upstreamStatus: 429, clientStatus: 429, calls: GATEWAY_ATTEMPTS },
          { upstreamStatus: 500, clientStatus: 502, calls: GATEWAY_ATTEMPTS },
          { upstreamStatus: 400, clientStatus: 400, calls: 1 },
          { upstreamStatus: 401, clientStatus: 502, calls: 1 }
        ]
        for (const { upstreamStatus, clientStatus, calls } of failures) {
          it(`gives the client an upstream ${upstreamStatus} as its own ${clientStatus} error, after ${calls} upstream call(s)`, async () => {
            const { driver: d } = driver()
            const providers = upstreams.providers()
            const message = `upstream says ${upstreamStatus}`
            for (let i = 0; i < calls; i++) providers.queue.push({ kind: "error", status: upstreamStatus, message })
            const before = upstreams.modelCalls()
            try {
              d.assertError(await d.fail(prompt(`failing with ${upstreamStatus}`)), clientStatus, message)
              assert.equal(upstreams.modelCalls() - before, calls)
            } finally {
              providers.queue.length = 0
            }
          })
        }
      })
    }
  }
  return upstreams
}

export interface SseEvent {
  readonly event: string | undefined
  readonly data: any
}

/** The events of an SSE body, each data line parsed as JSON (`[DONE]` kept as text). */
export const sseEvents = (body: string): Array<SseEvent> =>
  body.split(/\r?\n\r?\n/).filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split(/\r?\n/)
    const event = lines.find((line) => line.startsWith("event:"))?.slice(6).trim()
    const data = lines.filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n")
    return { event, data: data === "[DONE]" ? data : JSON.parse(data) }
  })

export interface RecordedFixture {
  readonly recorded: string
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Record<string, any>
}

/** The requests a CLI sent, as test/fixtures/clients/record.ts saved them. */
export const recordedRequests = async (file: string): Promise<Array<RecordedFixture>> =>
  JSON.parse(await readFile(new URL(`../fixtures/clients/${file}`, import.meta.url), "utf8"))

/** Sends a recorded request to the gateway as the CLI sent it, with `credential` as its key. */
export const replay = (gateway: RunningGateway, recorded: RecordedFixture, credential: Record<string, string>) =>
  fetch(`${gateway.url}${recorded.path}`, {
    method: recorded.method,
    headers: { ...recorded.headers, ...credential },
    body: JSON.stringify(recorded.body)
  })
