import * as fc from "fast-check"
import assert from "node:assert/strict"
import { after, before, describe, it, mock } from "node:test"
import { type Gateway, startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"

// The exact-hit lane (core/http/exactHitLane.ts) is the design made fast, not a second design: whatever a client
// sends, a gateway with the lane answers byte for byte what the same gateway without it (every request through Hono
// and the Effect pipeline) answers. Two gateways per configuration, the lane on and off, each with its own fake
// upstream, are sent the same requests in the same order; the clock (Date) is frozen and moved by hand, so ages
// and stored times are the same on both.

/** Headers that belong to one request, not to its answer: never compared. (The lane sends none of them today.) */
const PER_REQUEST_HEADERS = new Set(["date", "x-isartor-trace-id", "x-request-id"])

const GATEWAY_KEY = "gw-secret-key"
const quiet = { log: { info: () => undefined, warn: () => undefined } }

interface Pair {
  readonly name: string
  readonly lane: Gateway
  readonly plain: Gateway
  readonly upstreams: ReadonlyArray<FakeOpenAI>
}
const pairs: Array<Pair> = []

const startPair = async (name: string, env: Record<string, string>): Promise<Pair> => {
  const upstreams = [await startFakeOpenAI(), await startFakeOpenAI()] as const
  const gatewayOn = (upstream: FakeOpenAI, exactHitLane: boolean) =>
    startGateway(
      {
        env: upstreamEnv(upstream.url, { ISARTOR__MAX_BODY_BYTES: "4096", ISARTOR__L3_MAX_RETRIES: "0", ...env }),
        readTextFile: async () => undefined
      },
      { ...quiet, exactHitLane, shareResponseHeaders: true }
    )
  return { name, lane: await gatewayOn(upstreams[0], true), plain: await gatewayOn(upstreams[1], false), upstreams }
}

before(async () => {
  // Only Date: timers run as they do. Started after it, the gateways read the frozen clock.
  mock.timers.enable({ apis: ["Date"], now: Date.UTC(2026, 0, 1) })
  pairs.push(await startPair("open", {}))
  pairs.push(await startPair("secured", { ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY }))
})
after(async () => {
  for (const pair of pairs) {
    await pair.lane.dispose()
    await pair.plain.dispose()
    for (const upstream of pair.upstreams) await upstream.close()
  }
  mock.timers.reset()
})

type Route = "/v1/chat/completions" | "/v1/messages" | "/api/chat"
type CacheState = "empty" | "present" | "expired"

interface Case {
  readonly pair: number
  readonly route: Route
  readonly body: { readonly kind: "valid"; readonly prompt: string; readonly fields: Record<string, unknown> } | {
    readonly kind: "raw"
    readonly text: string
  }
  readonly declareLength: boolean
  readonly headers: Record<string, string>
  readonly state: CacheState
}

const credentials = fc.constantFrom<Record<string, string>>(
  {},
  { "x-api-key": GATEWAY_KEY },
  { authorization: `Bearer ${GATEWAY_KEY}` },
  { authorization: `bearer  ${GATEWAY_KEY}` },
  { "api-key": GATEWAY_KEY },
  { "x-api-key": "wrong-key" },
  { authorization: "Bearer gw-secret-kez" },
  { authorization: "Basic dXNlcjpwYXNz" },
  { "x-api-key": GATEWAY_KEY, authorization: "Bearer sk-caller-two" },
  { "x-goog-api-key": "caller-three" }
)
/** Absent more often than not, so that plain requests — the lane's hits — are common too. */
const optionalHeader = (name: string, values: ReadonlyArray<string>) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant<Record<string, string>>({}) },
    { weight: 1, arbitrary: fc.constantFrom(...values).map((value): Record<string, string> => ({ [name]: value })) }
  )
const headers = fc.tuple(
  credentials,
  optionalHeader("cache-control", [
    "no-cache",
    "no-store",
    "max-age=3600",
    "max-age=0",
    "only-if-cached",
    "no-cache, no-store",
    "max-age=abc",
    "private",
    "no-transform"
  ]),
  optionalHeader("anthropic-version", ["2023-06-01", "2024-01-01"]),
  optionalHeader("anthropic-beta", ["prompt-caching-2024-07-31", "tools-2024-04-04"]),
  optionalHeader("x-isartor-session-id", ["s1", "s2"]),
  optionalHeader("x-isartor-similarity-threshold", ["0.9", "2", "x"]),
  optionalHeader("x-isartor-cache-ttl", ["60", "0"])
).map((parts) => Object.assign({}, ...parts) as Record<string, string>)

const fields = fc.record(
  {
    model: fc.constantFrom("gpt-4o-mini", "claude-x", ""),
    stream: fc.boolean(),
    temperature: fc.constantFrom(0, 0.5, 2, -1),
    max_tokens: fc.constantFrom(5, 0)
  },
  { requiredKeys: [] }
)
const body = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("valid" as const), prompt: fc.string(), fields }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("raw" as const), text: fc.oneof(fc.string(), fc.json()) })
  }
)
const cases: fc.Arbitrary<Case> = fc.record({
  pair: fc.nat({ max: 1 }),
  route: fc.constantFrom<Route>("/v1/chat/completions", "/v1/messages", "/api/chat"),
  body,
  declareLength: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  headers,
  state: fc.constantFrom<CacheState>("empty", "present", "expired")
})

/** The body's text in the route's format; `run` makes every run's prompt its own, so "empty" is empty. */
const bodyText = (route: Route, body: Case["body"], run: number): string => {
  if (body.kind === "raw") return body.text
  const content = `${body.prompt} #${run}`
  if (route === "/api/chat") return JSON.stringify({ prompt: content, ...body.fields })
  if (route === "/v1/messages") {
    return JSON.stringify({ max_tokens: 5, ...body.fields, messages: [{ role: "user", content }] })
  }
  return JSON.stringify({ ...body.fields, messages: [{ role: "user", content }] })
}

const send = (gateway: Gateway, route: Route, text: string, declareLength: boolean, sent: Record<string, string>) =>
  Promise.resolve(gateway.fetch(
    new Request(`http://127.0.0.1${route}`, {
      method: "POST",
      body: text,
      headers: {
        "content-type": "application/json",
        ...(declareLength ? { "content-length": String(Buffer.byteLength(text)) } : {}),
        ...sent
      }
    })
  ))

/** Everything a client receives but the per-request headers: status, every other header, the body's bytes. */
const received = async (response: Response) => ({
  status: response.status,
  headers: [...response.headers].filter(([name]) => !PER_REQUEST_HEADERS.has(name))
    .sort(([a], [b]) => a.localeCompare(b)),
  body: Buffer.from(await response.arrayBuffer()).toString("hex")
})

/** The same request to both gateways of a pair, in turn; their answers must be the same bytes. */
const both = async (pair: Pair, route: Route, text: string, declareLength: boolean, sent: Record<string, string>) => {
  const lane = await received(await send(pair.lane, route, text, declareLength, sent))
  const plain = await received(await send(pair.plain, route, text, declareLength, sent))
  assert.deepEqual(lane, plain, `${pair.name} ${route} ${JSON.stringify(sent)} ${text.slice(0, 80)}`)
  return lane
}

const layerOf = (answer: Awaited<ReturnType<typeof received>>) =>
  answer.headers.find(([name]) => name === "x-isartor-layer")?.[1]

describe("the exact-hit lane", () => {
  it("answers byte for byte what Hono and the pipeline answer, over bodies, headers, callers and cache states", async () => {
    let run = 0
    // Checks the lane could have answered from L1a: the property must have covered them, not only refusals.
    let laneHits = 0
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        run++
        const pair = pairs[c.pair]!
        const text = bodyText(c.route, c.body, run)
        if (c.state !== "empty") await both(pair, c.route, text, c.declareLength, c.headers)
        // Expired: the entry is older than the caller accepts.
        const sent = c.state === "expired" ? { ...c.headers, "cache-control": "max-age=60" } : c.headers
        if (c.state !== "empty") mock.timers.tick(c.state === "expired" ? 120_000 : 1_500)
        const answer = await both(pair, c.route, text, c.declareLength, sent)
        if (c.declareLength && c.state === "present" && layerOf(answer) === "l1a") laneHits++
      }),
      { numRuns: 400, seed: 20261207 }
    )
    assert.ok(laneHits >= 20, `only ${laneHits} checks were exact hits the lane could answer`)
  })
})
