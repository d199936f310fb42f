import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { after, before, describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, TEST_PROVIDER_KEY, upstreamEnv } from "../support/gateway.ts"
import { projectRoot } from "../support/processes.ts"
import { promtool, type RunningPrometheus, type Sample, startPrometheus } from "./prometheus.ts"

/** The operators' guide's queries, as written there. */
const DEFLECTION_RATE = `1 - (
  sum(rate(isartor_requests_total{final_layer="L3_Cloud"}[5m]))
  /
  sum(rate(isartor_requests_total[5m]))
)`
const P99_BY_LAYER = `histogram_quantile(0.99, sum by (le, layer_name) (
  rate(isartor_layer_duration_seconds_bucket[5m])
))`

const GATEWAY_KEY = "gw-secret-key-for-metrics"
const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

let upstream: FakeOpenAI
let gateway: RunningGateway
let prometheus: RunningPrometheus
/** The time of the scrape that saw every request of the mix: queries are evaluated there. */
let scrapedAt: number

const ask = async (prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` },
    body: JSON.stringify({ prompt })
  })
  await response.text()
  return `${response.status} ${response.headers.get("x-isartor-layer")}`
}

const byLayer = (samples: Array<Sample>) =>
  Object.fromEntries(samples.map((sample) => [sample.metric.layer_name, sample.value]))

before(async () => {
  upstream = await startFakeOpenAI()
  // Cloud answers take at least 300 ms: L3's p99 lies above the 0.25 s bucket boundary however loaded the machine.
  upstream.setDefault({ kind: "ok", delayMs: 300 })
  gateway = await startTestGateway(
    upstreamEnv(upstream.url, {
      ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY,
      ISARTOR__L3_MAX_RETRIES: "1",
      ISARTOR__L3_RETRY_BASE_MS: "1"
    }),
    {},
    backends
  )
  prometheus = await startPrometheus([{
    job: "isartor",
    target: gateway.url.slice("http://".length),
    bearer: GATEWAY_KEY
  }])
  // A first scrape before any request: every series starts at 0, as it does for an operator.
  await prometheus.waitFor(`up{job="isartor"}`, (samples) => samples[0]?.value === 1)

  const outcomes = [
    await ask("How do I reset my password?"),
    await ask("What is the capital of France?"),
    await ask("Tell me a joke about cats"),
    await ask("What is the capital of France?"),
    await ask("What is the capital of France?"),
    await ask("What is the capital of France?"),
    await ask("Tell me a joke about cats"),
    await ask("How can I reset my password?")
  ]
  // Failed, retried once, failed again: one 502 for the client, two errors and a retry for the operator.
  upstream.queue.push(
    { kind: "error", status: 500, message: "upstream exploded" },
    { kind: "error", status: 500, message: "upstream exploded" }
  )
  outcomes.push(await ask("Write a haiku about rain"))
  assert.deepEqual(outcomes, [
    "200 l3",
    "200 l3",
    "200 l3",
    "200 l1a",
    "200 l1a",
    "200 l1a",
    "200 l1a",
    "200 l1b",
    "502 l3"
  ])
  await prometheus.waitFor("sum(isartor_requests_total)", (samples) => samples[0]?.value === 9)
  const [seen] = await prometheus.query("timestamp(isartor_build_info)")
  scrapedAt = seen!.value
})

after(async () => {
  await prometheus?.stop()
  await gateway?.close()
  await upstream?.close()
})

describe("Prometheus scraping the gateway's /metrics", () => {
  it("computes the guide's deflection rate: 5 of 9 requests answered without the cloud", async () => {
    const [rate] = await prometheus.query(DEFLECTION_RATE, scrapedAt)
    assert.ok(rate, "the deflection query returns a value")
    assert.ok(Math.abs(rate.value - 5 / 9) < 1e-9, `deflection rate ${rate.value}, expected ${5 / 9}`)
  })

  it("computes the guide's p99 per layer: the cloud's is above the provider's delay", async () => {
    const p99 = byLayer(await prometheus.query(P99_BY_LAYER, scrapedAt))
    // Only lower bounds: the provider's delay sets them, while how much longer a loaded machine takes sets none.
    for (const layer of ["L1a_ExactCache", "L1b_SemanticCache", "L3_Cloud"]) {
      assert.ok(Number.isFinite(p99[layer]) && p99[layer]! >= 0, `${layer} p99 ${p99[layer]}`)
    }
    // Three of L3's four timings (the 502 the fourth) took 300 ms or more: its 99th percentile is above 0.25 s.
    const [slow] = await prometheus.query(
      `sum(isartor_layer_duration_seconds_count{layer_name="L3_Cloud"})
        - sum(isartor_layer_duration_seconds_bucket{layer_name="L3_Cloud",le="0.25"})`,
      scrapedAt
    )
    assert.ok(slow!.value >= 3, `${slow?.value} L3 timings above 0.25 s`)
    assert.ok(p99.L3_Cloud! > 0.25, `L3 p99 ${p99.L3_Cloud}`)
  })

  it("counts requests by final layer, endpoint and status, and the cloud's failure by provider and status", async () => {
    const requests = await prometheus.query(`sum by (final_layer, status) (isartor_requests_total) > 0`, scrapedAt)
    const counted = Object.fromEntries(
      requests.map((sample) => [`${sample.metric.final_layer} ${sample.metric.status}`, sample.value])
    )
    assert.deepEqual(counted, {
      "L1a_ExactCache 200": 4,
      "L1b_SemanticCache 200": 1,
      "L3_Cloud 200": 3,
      "L3_Cloud 502": 1
    })
    const [errors] = await prometheus.query(`isartor_l3_errors_total{provider="openai",status="500"}`, scrapedAt)
    assert.equal(errors?.value, 2, "both failed attempts")
    const [retries] = await prometheus.query(`isartor_l3_retries_total{provider="openai",reason="Upstream"}`, scrapedAt)
    assert.equal(retries?.value, 1)
  })

  it("counts the tokens saved by the caches and what they would have cost", async () => {
    const tokens = Object.fromEntries(
      (await prometheus.query("isartor_tokens_total", scrapedAt)).map((sample) => [
        sample.metric.direction,
        sample.value
      ])
    )
    assert.ok(tokens.spent! > 0, "the cloud's answers spent tokens")
    assert.ok(tokens.saved! > 0, "the cached answers saved tokens")
    const [cost] = await prometheus.query("isartor_estimated_cost_saved_usd_total", scrapedAt)
    assert.ok(cost!.value > 0, "gpt-4o-mini is priced")
  })

  it("shows each layer up or down as /health does, and the cache's entries", async () => {
    const up = Object.fromEntries(
      (await prometheus.query("isartor_layer_up", scrapedAt)).map((sample) => [sample.metric.layer, sample.value])
    )
    assert.deepEqual(up, { L1a_ExactCache: 1, L1b_SemanticCache: 1, L2_SLM: 0, L3_Cloud: 1 })
    // Sampled from /health's status, reused for 10 s between scrapes: it shows within a few scrapes.
    await prometheus.waitFor(`isartor_cache_entries{layer="L1a_ExactCache"}`, (samples) => samples[0]?.value === 3)
  })

  it("serves a scrape that promtool accepts, with no key in it", async () => {
    const scrape = await (await fetch(`${gateway.url}/metrics`, { headers: { "x-api-key": GATEWAY_KEY } })).text()
    const checked = promtool(["check", "metrics"], scrape)
    assert.ok(checked.ok, checked.output)
    for (const secret of [TEST_PROVIDER_KEY, GATEWAY_KEY]) assert.ok(!scrape.includes(secret), "no key in /metrics")
  })

  it("keeps /metrics behind the gateway key", async () => {
    assert.equal((await fetch(`${gateway.url}/metrics`)).status, 401)
    assert.equal((await fetch(`${gateway.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status, 401)
  })

  it("answers every query of the shipped Grafana dashboard with data", async () => {
    const dashboard = JSON.parse(readFileSync(`${projectRoot}dashboards/prometheus-grafana.json`, "utf8")) as {
      templating: { list: Array<{ name: string; type: string; query: unknown }> }
      panels: Array<{ title: string; datasource: { uid: string }; targets: Array<{ expr: string }> }>
    }
    const datasource = dashboard.templating.list.find((variable) => variable.type === "datasource")
    assert.equal(datasource?.query, "prometheus", "the Prometheus data source is a variable")
    const expressions = dashboard.panels.flatMap((panel) =>
      panel.targets.map((target) => ({ panel: panel.title, expr: target.expr }))
    )
    assert.ok(expressions.length >= 15)
    const titles = dashboard.panels.map((panel) => panel.title).join(" | ")
    for (
      const wanted of [
        /Deflection/,
        /final layer/,
        /p50/,
        /p95/,
        /p99/,
        /[Tt]okens/,
        /[Cc]ost/,
        /L3 errors/,
        /retries/,
        /up/
      ]
    ) {
      assert.match(titles, wanted)
    }
    // A few scrapes later: a series born with the mix (the first upstream error) needs two samples for rate().
    const [later] = await prometheus.waitFor(
      "timestamp(isartor_build_info)",
      (samples) => (samples[0]?.value ?? 0) >= scrapedAt + 2
    )
    for (const { expr, panel } of expressions) {
      // The job variable picks the gateway's own scrape, as an operator would in the dashboard.
      const samples = await prometheus.query(expr.replaceAll("$job", "isartor"), later!.value)
      assert.ok(samples.length > 0, `panel "${panel}" has data: ${expr}`)
      // A layer without traffic has no quantile (NaN, blank in Grafana); the layers that served have one.
      assert.ok(samples.some((sample) => !Number.isNaN(sample.value)), `panel "${panel}" shows a number: ${expr}`)
    }
  })

  it("ships a prometheus.yml that promtool accepts", () => {
    const checked = promtool(["check", "config", `${projectRoot}prometheus.yml`])
    assert.ok(checked.ok, checked.output)
    assert.match(readFileSync(`${projectRoot}prometheus.yml`, "utf8"), /otel-collector:8889/)
  })
})
