import { Context, Effect } from "effect"
import { Hono } from "hono"
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { AppConfigShape } from "../../core/config/ConfigSpec.ts"
import { type Gateway, startGateway } from "../../core/Gateway.ts"
import { adminRoutes } from "../../core/http/admin.ts"
import type { PipelineStatus } from "../../core/pipeline/Pipeline.ts"
import type { UsageLedger } from "../../core/usage/UsageLedger.ts"
import type { UsageReport, UsageRow, UsageTotals } from "../../core/usage/UsageRow.ts"
import { VERSION } from "../../core/version.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI, TEST_PROVIDER_KEY } from "../support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"

// The admin JSON API over the usage ledger: who may read it, what it answers for a known mix of requests, the live
// events, and that no key or prompt leaves through it.

const ADMIN_KEY = "admin-key-0123456789abcdef"
const GATEWAY_KEY = "gateway-key-0123456789abcdef"
const CALLER_B = "caller-b-credential-0123456789"
// Priced so that costs are whole numbers: USD 1 per input token, 2 per output token.
const PRICES = "gpt-4o-mini=1000000/2000000,gpt-4o=3000000/4000000"
const PROMPTS = ["Which river runs through Munich?", "Name the tallest mountain in Bavaria", "Spell Isartor backwards"]

let upstream: FakeOpenAI
let gateway: Gateway
let secured: Gateway
let closed: Gateway
const bodies: Array<string> = []

const quiet = { log: { info: () => undefined, warn: () => undefined } }
const start = (env: Record<string, string>) => startGateway({ env, readTextFile: async () => undefined }, quiet)

before(async () => {
  upstream = await startFakeOpenAI()
  const env = { ISARTOR__ADMIN_API_KEY: ADMIN_KEY, ISARTOR__MODEL_PRICES: PRICES, ISARTOR__L3_MAX_RETRIES: "0" }
  gateway = await start(upstreamEnv(upstream.url, env))
  secured = await start(upstreamEnv(upstream.url, { ...env, ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY }))
  closed = await start(upstreamEnv(upstream.url))
})
after(async () => {
  await gateway.dispose()
  await secured.dispose()
  await closed.dispose()
  await upstream.close()
})

const call = async (target: Gateway, path: string, headers: Record<string, string> = {}) => {
  const response = await target.fetch(new Request(`http://gateway.test${path}`, { headers }))
  return response
}
/** An admin route's JSON, kept to check afterwards that no secret or prompt ever left. */
const admin = async <A>(path: string, target = gateway): Promise<A> => {
  const response = await call(target, path, { authorization: `Bearer ${ADMIN_KEY}` })
  const text = await response.text()
  bodies.push(text)
  assert.equal(response.status, 200, `${path}: ${text}`)
  return JSON.parse(text) as A
}

interface Completion {
  readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number }
}
const ask = async (prompt: string, model: string, credential?: string) => {
  const response = await gateway.fetch(
    new Request("http://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
      body: JSON.stringify({ model, messages: [{ role: "user", content: prompt }] })
    })
  )
  assert.equal(response.status, 200)
  const completion = (await response.json()) as Completion
  return { layer: response.headers.get("x-isartor-layer"), ...completion.usage }
}

describe("who may read the admin API", () => {
  const routes = ["/admin/overview", "/admin/usage", "/admin/requests?limit=5", "/admin/events"]

  it("does not exist without an admin key", async () => {
    for (const route of routes) {
      assert.equal((await call(closed, route, { authorization: `Bearer ${ADMIN_KEY}` })).status, 404, route)
    }
  })

  it("refuses the gateway key and a request with no key; opens with the admin key", async () => {
    for (const route of routes.filter((route) => route !== "/admin/events")) {
      const withGatewayKey = await call(secured, route, { authorization: `Bearer ${GATEWAY_KEY}` })
      assert.equal(withGatewayKey.status, 401, route)
      assert.match(await withGatewayKey.text(), /invalid admin key/)
      const withoutKey = await call(secured, route, { "x-api-key": GATEWAY_KEY })
      assert.equal(withoutKey.status, 401, route)
      assert.match(await withoutKey.text(), /missing admin key/)
      assert.equal((await call(secured, route, { "x-admin-key": ADMIN_KEY })).status, 200, route)
    }
  })

  it("answers a malformed parameter with a 400 naming it", async () => {
    const cases: Array<[string, RegExp]> = [
      ["/admin/usage?since=yesterday", /^since: expected an ISO 8601 time/],
      ["/admin/usage?until=soon", /^until: expected/],
      ["/admin/usage?since=1h&until=2h", /^since: must be before until/],
      ["/admin/usage?by=team", /^by: expected one of caller, model, provider, layer, hour, day/],
      ["/admin/requests?limit=0", /^limit: expected a whole number from 1 to 1000/],
      ["/admin/requests?limit=5000", /^limit: /],
      ["/admin/requests?limit=ten", /^limit: /]
    ]
    for (const [path, message] of cases) {
      const response = await call(gateway, path, { authorization: `Bearer ${ADMIN_KEY}` })
      assert.equal(response.status, 400, path)
      const body = (await response.json()) as { error: { message: string; type: string } }
      assert.match(body.error.message, message, path)
      assert.equal(body.error.type, "invalid_request_error")
    }
  })
})

describe("the figures of a known mix of requests", () => {
  let spent: { tokens_in: number; tokens_out: number; cost: number }
  let saved: { tokens: number; cost: number }

  before(async () => {
    // Caller A: two misses and a repeat; caller B: one miss and its repeat. Three L3 answers, two L1a hits.
    const a1 = await ask(PROMPTS[0]!, "gpt-4o-mini")
    const a2 = await ask(PROMPTS[1]!, "gpt-4o")
    const b1 = await ask(PROMPTS[2]!, "gpt-4o-mini", CALLER_B)
    const hits = [await ask(PROMPTS[0]!, "gpt-4o-mini"), await ask(PROMPTS[2]!, "gpt-4o-mini", CALLER_B)]
    assert.deepEqual([a1, a2, b1].map((answer) => answer.layer), ["l3", "l3", "l3"])
    assert.deepEqual(hits.map((answer) => answer.layer), ["l1a", "l1a"])
    const costOf = (usage: typeof a1, input: number, output: number) =>
      usage.prompt_tokens * input + usage.completion_tokens * output
    spent = {
      tokens_in: a1.prompt_tokens + a2.prompt_tokens + b1.prompt_tokens,
      tokens_out: a1.completion_tokens + a2.completion_tokens + b1.completion_tokens,
      cost: costOf(a1, 1, 2) + costOf(a2, 3, 4) + costOf(b1, 1, 2)
    }
    saved = {
      tokens: a1.prompt_tokens + a1.completion_tokens + b1.prompt_tokens + b1.completion_tokens,
      cost: costOf(a1, 1, 2) + costOf(b1, 1, 2)
    }
  })

  const assertTotals = (totals: UsageTotals, requests: number) => {
    assert.equal(totals.requests, requests)
    assert.equal(totals.errors, 0)
    assert.equal(totals.tokens_in, spent.tokens_in)
    assert.equal(totals.tokens_out, spent.tokens_out)
    assert.ok(Math.abs(totals.cost_usd - spent.cost) < 1e-6, `cost ${totals.cost_usd} ≠ ${spent.cost}`)
    assert.equal(totals.tokens_saved, saved.tokens)
    assert.ok(Math.abs(totals.cost_saved_usd - saved.cost) < 1e-6, `saved ${totals.cost_saved_usd} ≠ ${saved.cost}`)
  }

  it("overview: deflection, spent and saved today, 24 h and 7 d, latency per layer, caches, providers", async () => {
    interface Overview {
      version: string
      runtime: string
      uptime_secs: number
      deflection: Record<"now" | "24h" | "7d", { rate: number; layers: Record<string, number> }>
      today: UsageTotals
      totals: Record<"24h" | "7d", UsageTotals>
      latency_ms: Record<string, { p50: number; p99: number; count: number }>
      cache: Record<string, { entries: number; bytes: number }>
      providers: Array<{ id: string; model: string; requests: number; errors: number; status: string }>
      l2: { status: string }
      config: Array<{ key: string; value: unknown; source: string }>
    }
    const view = await admin<Overview>("/admin/overview")
    assert.equal(view.version, VERSION)
    assert.equal(view.runtime, "in-process", "an in-process gateway says so, not \"unknown\"")
    for (const window of ["now", "24h", "7d"] as const) {
      assert.equal(view.deflection[window].rate, 2 / 5, window)
      assert.deepEqual(view.deflection[window].layers, { l1a: 2, l1b: 0, l2: 0, l3: 3, pass: 0 })
    }
    assertTotals(view.today, 5)
    assertTotals(view.totals["24h"], 5)
    assertTotals(view.totals["7d"], 5)
    assert.equal(view.latency_ms.l1a?.count, 2)
    assert.equal(view.latency_ms.l3?.count, 3)
    assert.ok(view.latency_ms.l3!.p50 <= view.latency_ms.l3!.p99)
    assert.equal(view.cache.l1a?.entries, 3)
    assert.ok(view.cache.l1a!.bytes > 0)
    assert.deepEqual(
      view.providers.map(({ id, model, requests, errors, status }) => ({ id, model, requests, errors, status })),
      [{ id: "openai", model: "gpt-4o-mini", requests: 3, errors: 0, status: "ok" }]
    )
    assert.equal(view.l2.status, "disabled")
    const setting = (key: string) => view.config.find((entry) => entry.key === key)
    assert.deepEqual(setting("admin_api_key"), {
      key: "admin_api_key",
      value: "(set)",
      source: "ISARTOR__ADMIN_API_KEY"
    })
    assert.deepEqual(setting("cache_mode"), { key: "cache_mode", value: "both", source: "default" })
    assert.equal(setting("external_llm_api_key")?.value, "(set)")
  })

  it("usage grouped by model, layer and caller", async () => {
    const by = async (group: string) => {
      const report = await admin<UsageReport>(`/admin/usage?since=1h&by=${group}`)
      assert.equal(report.by, group)
      assertTotals(report.total, 5)
      return Object.fromEntries(report.groups.map((entry) => [entry.key, entry.requests]))
    }
    assert.deepEqual(await by("model"), { "gpt-4o-mini": 4, "gpt-4o": 1 })
    assert.deepEqual(await by("layer"), { l1a: 2, l3: 3 })
    assert.deepEqual(Object.values(await by("caller")).sort(), [2, 3])
    assert.deepEqual(await by("provider"), { openai: 3, "": 2 })
    const hours = await by("hour")
    assert.ok(Object.keys(hours).every((key) => /^\d{4}-\d{2}-\d{2}T\d{2}:00Z$/.test(key)), Object.keys(hours).join())
    assert.equal(Object.values(hours).reduce((sum, n) => sum + n, 0), 5)
    const future = await admin<UsageReport>(
      `/admin/usage?since=${new Date(Date.now() + 3_600_000).toISOString()}&until=${
        new Date(Date.now() + 7_200_000).toISOString()
      }`
    )
    assert.equal(future.total.requests, 0)
  })

  it("the last requests, newest first, as many as asked", async () => {
    const all = await admin<{ object: string; data: Array<UsageRow> }>("/admin/requests")
    assert.equal(all.object, "list")
    assert.deepEqual(all.data.map((row) => row.layer), ["l1a", "l1a", "l3", "l3", "l3"])
    assert.ok(all.data.every((row) => row.question === undefined && row.answer === undefined))
    const two = await admin<{ data: Array<UsageRow> }>("/admin/requests?limit=2")
    assert.deepEqual(two.data, all.data.slice(0, 2))
  })
})

/** Reads SSE events from a stream until `until` accepts the events seen so far. */
const readEvents = async (
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (events: ReadonlyArray<{ event: string; data: string }>) => boolean
) => {
  const decoder = new TextDecoder()
  const events: Array<{ event: string; data: string }> = []
  let text = ""
  while (!until(events)) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
    let end: number
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end)
      text = text.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event !== undefined && data !== undefined) events.push({ event, data })
    }
  }
  return events
}

describe("live events", () => {
  it("sends the overview, then a request event for a live request; the stream ends with its client", async () => {
    const response = await call(gateway, "/admin/events", { authorization: `Bearer ${ADMIN_KEY}` })
    assert.equal(response.status, 200)
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
    const reader = response.body!.getReader()
    const first = await readEvents(reader, (events) => events.length > 0)
    assert.equal(first[0]?.event, "overview")
    const streams = async () => (await admin<{ event_streams: number }>("/admin/overview")).event_streams
    assert.equal(await streams(), 1)

    const live = "A question asked while the dashboard watches"
    await ask(live, "gpt-4o-mini")
    const events = await readEvents(reader, (seen) => seen.some((event) => event.event === "request"))
    const row = JSON.parse(events.find((event) => event.event === "request")!.data) as UsageRow
    bodies.push(...events.map((event) => event.data))
    assert.equal(row.layer, "l3")
    assert.equal(row.model, "gpt-4o-mini")
    assert.equal(row.question, undefined)

    await reader.cancel()
    await eventually(async () => (await streams()) === 0, { what: "the event stream to end with its client" })
  })

  it("ends the stream when a client over a socket disconnects", async () => {
    const served = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY }))
    try {
      const headers = { "x-admin-key": ADMIN_KEY }
      const streams = async () =>
        ((await (await fetch(`${served.url}/admin/overview`, { headers })).json()) as { event_streams: number })
          .event_streams
      const leaving = new AbortController()
      const response = await fetch(`${served.url}/admin/events`, { headers, signal: leaving.signal })
      await readEvents(response.body!.getReader(), (events) => events.length > 0)
      assert.equal(await streams(), 1)
      leaving.abort()
      await eventually(async () => (await streams()) === 0, { what: "the stream to end with its socket" })
    } finally {
      await served.close()
    }
  })

  it("ends every stream when the gateway is disposed", async () => {
    const stopping = await start(upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY }))
    const response = await call(stopping, "/admin/events", { authorization: `Bearer ${ADMIN_KEY}` })
    const reader = response.body!.getReader()
    await readEvents(reader, (events) => events.length > 0)
    await stopping.dispose()
    await eventually(async () => (await reader.read()).done, { what: "the stream to end with the gateway" })
  })

  it("ends every stream when the gateway drains, so a server waiting on its requests can close", async () => {
    const served = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY }))
    try {
      const headers = { "x-admin-key": ADMIN_KEY }
      const response = await fetch(`${served.url}/admin/events`, { headers })
      const reader = response.body!.getReader()
      await readEvents(reader, (events) => events.length > 0)
      served.gateway.drain()
      await eventually(async () => (await reader.read()).done, { what: "the stream to end as the gateway drains" })
      const late = await fetch(`${served.url}/admin/events`, { headers })
      assert.equal(late.status, 503)
      assert.match(await late.text(), /the gateway is stopping/)
    } finally {
      await served.close()
    }
  })

  it("unsubscribes from the ledger when the client goes", async () => {
    const { app, listeners } = fakeLedgerApp(gateway.config, [])
    const reader = (await app.request("/admin/events")).body!.getReader()
    await readEvents(reader, (events) => events.length > 0)
    assert.equal(listeners.size, 1)
    await reader.cancel()
    assert.equal(listeners.size, 0)
  })
})

/** The admin routes alone, over a ledger that holds `rows` and counts its subscribers. */
const fakeLedgerApp = (config: AppConfigShape, rows: ReadonlyArray<UsageRow>) => {
  const listeners = new Set<(row: UsageRow) => void>()
  const ledger: UsageLedger["Service"] = {
    record: (row) => listeners.forEach((listener) => listener(row)),
    recordNote: () => undefined,
    report: (_, by) => Effect.succeed({ since: "", until: "", by, total: EMPTY, groups: [], unpriced_models: [] }),
    totals: () => Effect.succeed(EMPTY),
    recent: (limit) => Effect.succeed(rows.slice(0, limit)),
    subscribe: (listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    flush: Effect.void
  }
  const app = new Hono()
  const up = { status: "ok" }
  adminRoutes(app, {
    config,
    configReport: { file: undefined, setBy: {}, warnings: [] },
    usage: ledger,
    status: Effect.succeed({ layers: { l1a: up, l1b: up, l2: up, l3: up } } as PipelineStatus),
    metrics: Context.empty(),
    version: VERSION,
    runtime: "test",
    startedAt: Date.now(),
    now: Date.now,
    run: (effect) => Effect.runPromiseExit(effect)
  })
  return { app, listeners }
}

describe("request_log_bodies", () => {
  const row: UsageRow = {
    at: Date.now(),
    caller: "c0ffee",
    family: "chat",
    model_asked: "gpt-4o-mini",
    provider: "openai",
    model: "gpt-4o-mini",
    layer: "l3",
    tokens_in: 9,
    tokens_out: 4,
    cost_usd: 0,
    tokens_saved: 0,
    cost_saved_usd: 0,
    latency_ms: 12,
    status: 200,
    stream: false,
    question: `My key is ${TEST_PROVIDER_KEY}; try Authorization: Bearer abcdefgh12345678 or api_key=hunter2hunter2`,
    answer: "Use sk-ant-api03-ABCDEFGHIJKLMNOP, or AIzaSyA1234567890abcdefghijk"
  }
  const requests = async (logBodies: boolean) => {
    const { app } = fakeLedgerApp({ ...gateway.config, request_log_bodies: logBodies }, [row])
    return ((await (await app.request("/admin/requests")).json()) as { data: Array<UsageRow> }).data[0]!
  }

  it("off: rows carry no text, whatever the ledger holds", async () => {
    const shown = await requests(false)
    assert.equal(shown.question, undefined)
    assert.equal(shown.answer, undefined)
    assert.equal(shown.model, "gpt-4o-mini")
  })

  it("on: the question and answer, with the configured key and anything shaped like a key masked", async () => {
    const shown = await requests(true)
    assert.equal(shown.question, "My key is [redacted]; try Authorization: Bearer [redacted] or api_key=[redacted]")
    assert.equal(shown.answer, "Use [redacted], or [redacted]")
  })
})

describe("request_log_bodies through a gateway", () => {
  const SECRET_QUESTION = `Is ${TEST_PROVIDER_KEY} my key? Authorization: Bearer abcdefgh12345678`

  const chat = async (target: Gateway, content: string, stream = false) => {
    const response = await target.fetch(
      new Request("http://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", stream, messages: [{ role: "user", content }] })
      })
    )
    return response.text()
  }

  it("on: the ledger keeps the question and answer, masked and bounded, whole and streamed, cache hits too", async () => {
    const logging = await start(upstreamEnv(upstream.url, {
      ISARTOR__ADMIN_API_KEY: ADMIN_KEY,
      ISARTOR__REQUEST_LOG_BODIES: "true"
    }))
    try {
      await chat(logging, SECRET_QUESTION)
      await chat(logging, SECRET_QUESTION)
      await chat(logging, `${SECRET_QUESTION} (streamed)`, true)
      await chat(logging, "x".repeat(5000))
      const rows = await Effect.runPromise(logging.usage.recent(10))
      assert.deepEqual(rows.map((row) => [row.layer, row.stream]), [
        ["l3", false],
        ["l3", true],
        ["l1a", false],
        ["l3", false]
      ])
      const masked = "Is [redacted] my key? Authorization: Bearer [redacted]"
      assert.equal(rows[3]!.question, masked)
      assert.equal(rows[3]!.answer, `Answer #1 to: ${masked}`)
      assert.equal(rows[2]!.question, masked, "an exact hit keeps its question")
      assert.equal(rows[2]!.answer, `Answer #1 to: ${masked}`)
      assert.equal(rows[1]!.question, `${masked} (streamed)`)
      assert.equal(rows[1]!.answer, `Answer #1 to: ${masked} (streamed)`)
      assert.equal(rows[0]!.question, "x".repeat(2000), "bounded")
      assert.equal(rows[0]!.answer!.length, 2000)
      const shown = await call(logging, "/admin/requests", { authorization: `Bearer ${ADMIN_KEY}` })
      const text = await shown.text()
      assert.ok(text.includes(masked))
      assert.ok(!text.includes(TEST_PROVIDER_KEY) && !text.includes("abcdefgh12345678"))
    } finally {
      await logging.dispose()
    }
  })

  it("off (the default): no row holds any text, in the ledger itself either", async () => {
    await chat(gateway, `${SECRET_QUESTION} (not kept)`)
    const rows = await Effect.runPromise(gateway.usage.recent(1000))
    assert.ok(rows.length > 0)
    assert.ok(rows.every((row) => row.question === undefined && row.answer === undefined))
  })
})

const EMPTY: UsageTotals = {
  requests: 0,
  errors: 0,
  tokens_in: 0,
  tokens_out: 0,
  cost_usd: 0,
  tokens_saved: 0,
  cost_saved_usd: 0,
  layers: {}
}

describe("what the admin API lets out", () => {
  it("no key and no prompt text in any answer", () => {
    assert.ok(bodies.length > 5)
    for (const body of bodies) {
      for (const secret of [ADMIN_KEY, GATEWAY_KEY, TEST_PROVIDER_KEY, CALLER_B, ...PROMPTS, "while the dashboard"]) {
        assert.ok(!body.includes(secret), `an admin answer holds ${JSON.stringify(secret)}`)
      }
    }
  })
})
