import { serve } from "@hono/node-server"
import { Clock, Effect, Layer, Logger } from "effect"
import assert from "node:assert/strict"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { type Gateway, type SemanticBackends, startGateway } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { otlpExporter } from "../../runtimes/telemetry.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { TEST_PROVIDER_KEY, upstreamEnv } from "../support/gateway.ts"
import { type OtlpReceiver, type ReceivedSpan, startGrpcReceiver, startHttpReceiver } from "./otlpReceiver.ts"
import { freePort } from "./prometheus.ts"

const GATEWAY_KEY = "gw-otlp-secret-0123456789"
const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

interface Running {
  readonly url: string
  readonly gateway: Gateway
  readonly lines: Array<string>
  close(): Promise<void>
}

/** A gateway exporting over OTLP as `runtimes/` wires it, with the OTEL_* variables an operator sets. */
const startMonitored = async (env: Record<string, string>): Promise<Running> => {
  const lines: Array<string> = []
  const gateway = await startGateway({
    // One stored hit is not a stream of checked ones: the false-hit budget is off, the decision alone serves.
    env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ISARTOR__L1B_ERROR_BUDGET: "1", ...env },
    readTextFile: async () => undefined
  }, {
    log: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    semantic: backends,
    telemetry: otlpExporter(env),
    runtime: "node test"
  })
  const server = serve({ fetch: gateway.fetch, hostname: "127.0.0.1", port: 0 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    gateway,
    lines,
    close: () =>
      new Promise((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections()
        server.close(() => void gateway.dispose().then(() => resolve()))
      })
  }
}

/** Polls until `probe` finds something; the cap is generous, a pass takes as long as one export batch. */
const waitFor = <A>(what: string, probe: () => A | undefined | Promise<A | undefined>) =>
  eventually(probe, { what, timeoutMs: 30_000, intervalMs: 100 })

const chat = (gateway: Running, content: string, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}`, ...headers },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
  })

const noSecretIn = (text: string, where: string) => {
  for (const secret of [TEST_PROVIDER_KEY, GATEWAY_KEY]) assert.ok(!text.includes(secret), `no key in ${where}`)
}

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

describe("OTLP over gRPC", () => {
  let receiver: OtlpReceiver
  let gateway: Running
  before(async () => {
    receiver = await startGrpcReceiver()
    gateway = await startMonitored(upstreamEnv(upstream.url, {
      ISARTOR__ENABLE_MONITORING: "true",
      ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
      ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY,
      ISARTOR__LOG_FORMAT: "json",
      OTEL_SERVICE_NAME: "isartor-test",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test"
    }))
  })
  after(async () => {
    await gateway.close()
    await receiver.stop()
  })

  it("says at start-up that it exports, and where", () => {
    assert.ok(
      gateway.lines.some((line) =>
        line.includes(
          `OpenTelemetry export on: traces and metrics over grpc to ${receiver.url} as service isartor-test, and the log lines`
        )
      ),
      gateway.lines.join("\n")
    )
  })

  it("exports its log lines as OTLP log records: the printed text, its level, the service", async () => {
    const record = await waitFor(
      "the start-up line's record",
      () => receiver.logs.find((log) => log.body.startsWith("OpenTelemetry export on: "))
    )
    const printed = gateway.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => String(line.msg).startsWith("OpenTelemetry export on: "))
    assert.equal(record.body, printed?.msg, "the body is the text as printed")
    assert.equal(record.severityText, "INFO")
    assert.equal(record.severityNumber, 9, "SEVERITY_NUMBER_INFO")
    assert.equal(record.traceId, "", "written outside any request")
    assert.ok(record.time > 0n)
    assert.equal(record.resource["service.name"], "isartor-test")
    assert.equal(record.resource["deployment.environment"], "test")
  })

  it("exports a line's annotations as attributes and its span's ids; closing the exporter flushes it", async () => {
    const exported = otlpExporter({ OTEL_SERVICE_NAME: "isartor-annotated" })({
      endpoint: receiver.url,
      protocol: "grpc",
      version: "test",
      logs: (level) => level !== "Debug",
      warn: () => undefined
    })
    const written = await Effect.runPromise(
      Effect.gen(function*() {
        const span = yield* Effect.currentSpan
        yield* Effect.logDebug("a line below log_level")
        yield* Effect.logWarning("an annotated line")
        return { traceId: span.traceId, spanId: span.spanId }
      }).pipe(
        Effect.withSpan("annotated"),
        Effect.annotateLogs({ "isartor.layer": "l2", count: 3 }),
        // Only the exporter's logger: the test's console stays quiet.
        Effect.provide(exported.layer.pipe(Layer.provide(Logger.layer([]))))
      )
    )
    // No wait: the batch's delay has not passed, so the record is here because closing the layer flushed it.
    const ofService = receiver.logs.filter((log) => log.resource["service.name"] === "isartor-annotated")
    assert.deepEqual(ofService.map((log) => log.body), ["an annotated line"])
    const [record] = ofService
    assert.deepEqual(record!.attributes, { "isartor.layer": "l2", count: 3 })
    assert.equal(record!.severityText, "WARN")
    assert.equal(record!.traceId, written.traceId)
    assert.equal(record!.spanId, written.spanId)
  })

  it("exports a request's span tree, l1a miss → l1b miss → l3, under the caller's traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
    const callerSpan = "00f067aa0ba902b7"
    const response = await chat(gateway, "Which span tree does a miss produce?", {
      traceparent: `00-${traceId}-${callerSpan}-01`
    })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get("x-isartor-layer"), "l3")
    assert.equal(response.headers.get("x-isartor-trace-id"), traceId, "the trace id is echoed")

    const names = ["gateway.request", "l1a.lookup", "l1b.lookup", "l3.provider", "l3.attempt", "cache.write"]
    const spans = await waitFor("the request's spans reach the receiver", () => {
      const ofTrace = receiver.spans.filter((span) => span.traceId === traceId)
      return names.every((name) => ofTrace.some((span) => span.name === name)) ? ofTrace : undefined
    })
    const named = (name: string) => spans.find((span) => span.name === name) as ReceivedSpan
    const root = named("gateway.request")
    assert.equal(root.parentSpanId, callerSpan, "the root continues the caller's span")
    assert.equal(root.kind, 2, "SPAN_KIND_SERVER")
    for (const child of ["l1a.lookup", "l1b.lookup", "l3.provider"]) {
      assert.equal(named(child).parentSpanId, root.spanId, `${child} hangs under gateway.request`)
    }
    assert.equal(named("l3.attempt").parentSpanId, named("l3.provider").spanId)
    assert.equal(named("cache.write").parentSpanId, named("l3.provider").spanId)

    assert.equal(root.attributes["http.route"], "/v1/chat/completions")
    assert.equal(root.attributes["http.response.status_code"], 200)
    assert.equal(root.attributes["isartor.final_layer"], "L3_Cloud")
    assert.match(String(root.attributes["isartor.tenant"]), /^[0-9a-z]+$/, "a hash of the caller's key")
    const l1b = named("l1b.lookup").attributes
    assert.equal(l1b["isartor.l1b.verdict"], "no candidate above the threshold")
    assert.equal(typeof l1b["isartor.l1b.cosine_similarity"], "number")
    assert.ok(["fast", "model"].includes(String(l1b["isartor.l1b.stage"])))
    const l3 = named("l3.provider").attributes
    assert.equal(l3["isartor.l3.provider"], "openai")
    assert.equal(l3["isartor.l3.model"], "gpt-4o-mini")
    assert.ok(Number(l3["isartor.l3.tokens_in"]) > 0 && Number(l3["isartor.l3.tokens_out"]) > 0)
    assert.equal(named("l3.attempt").attributes["isartor.l3.attempt"], 1)

    assert.equal(root.resource["service.name"], "isartor-test", "OTEL_SERVICE_NAME")
    assert.equal(root.resource["deployment.environment"], "test", "OTEL_RESOURCE_ATTRIBUTES")
    noSecretIn(
      JSON.stringify(receiver.spans, (_key, value) => (typeof value === "bigint" ? String(value) : value)),
      "a span"
    )

    const logged = gateway.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.msg === "request" && line.trace_id === traceId)
    assert.ok(logged, "one JSON line for the request, with its trace id")
    assert.equal(logged.final_layer, "L3_Cloud")
    assert.equal(logged.route, "/v1/chat/completions")
    assert.equal(logged.status, 200)
    assert.equal(logged.provider, "openai")
    assert.equal(typeof logged.duration_ms, "number")
    noSecretIn(gateway.lines.join("\n"), "a log line")
    noSecretIn(
      JSON.stringify(receiver.logs, (_key, value) => (typeof value === "bigint" ? String(value) : value)),
      "a log record"
    )
  })

  it("spans an exact hit too, under the caller's trace: gateway.request and the l1a.lookup that hit", async () => {
    const hitTrace = "0af7651916cd43dd8448eb211c80319c"
    const callerSpan = "b7ad6b7169203331"
    await chat(gateway, "Asked twice, spanned twice")
    // Twice: the second hit is answered from a body already seen, without a parse (app.ts's first-level keys).
    for (const _ of [1, 2]) {
      const hit = await chat(gateway, "Asked twice, spanned twice", { traceparent: `00-${hitTrace}-${callerSpan}-01` })
      assert.equal(hit.headers.get("x-isartor-layer"), "l1a")
      assert.equal(hit.headers.get("x-isartor-trace-id"), hitTrace)
    }
    const spans = await waitFor("both hits' spans", () => {
      const ofTrace = receiver.spans.filter((span) => span.traceId === hitTrace)
      return ofTrace.filter((span) => span.name === "l1a.lookup").length === 2 ? ofTrace : undefined
    })
    const roots = spans.filter((span) => span.name === "gateway.request")
    assert.equal(roots.length, 2)
    for (const root of roots) {
      assert.equal(root.parentSpanId, callerSpan)
      assert.equal(root.attributes["isartor.final_layer"], "L1a_ExactCache")
      assert.equal(root.attributes["http.response.status_code"], 200)
      const lookup = spans.find((span) => span.name === "l1a.lookup" && span.parentSpanId === root.spanId)
      assert.equal(lookup?.attributes["isartor.l1a.result"], "hit")
    }
    assert.deepEqual(
      spans.map((span) => span.name).sort(),
      ["gateway.request", "gateway.request", "l1a.lookup", "l1a.lookup"],
      "nothing past L1a"
    )
  })

  it("keeps a streamed answer's span open until its last event has gone out", async () => {
    // An upstream that holds its stream after the first event until the test releases it.
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${
        JSON.stringify({
          id: "chatcmpl-slow",
          object: "chat.completion.chunk",
          created: 1,
          model: "gpt-4o-mini",
          choices: [{ index: 0, delta, finish_reason: finish }]
        })
      }\n\n`
    const slow = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write(chunk({ role: "assistant", content: "Slow" }, null))
        void released.then(() => response.end(chunk({ content: "ly." }, "stop") + "data: [DONE]\n\n"))
      })
    })
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", () => resolve()))
    const streaming = await startMonitored(upstreamEnv(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`, {
      ISARTOR__ENABLE_MONITORING: "true",
      ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
      ISARTOR__CACHE_MODE: "exact"
    }))
    try {
      const response = await fetch(`${streaming.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Stream it" }] })
      })
      const traceId = response.headers.get("x-isartor-trace-id")
      // The client has the first event; the stream's end is still held. The spans' clock (Effect's) reads the time.
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
      let text = ""
      while (!text.includes("Slow")) {
        const { done, value } = await reader.read()
        assert.equal(done, false, `the stream ended before its first event: ${text}`)
        text += value
      }
      const releasedAt = Effect.runSync(Clock.currentTimeNanos)
      release()
      for (let read = await reader.read(); !read.done; read = await reader.read()) text += read.value
      assert.match(text, /Slow[\s\S]*ly\.[\s\S]*\[DONE\]/)
      const spans = await waitFor("the streamed request's spans", () => {
        const ofTrace = receiver.spans.filter((span) => span.traceId === traceId)
        return ofTrace.some((span) => span.name === "gateway.request") ? ofTrace : undefined
      })
      const root = spans.find((span) => span.name === "gateway.request")!
      const provider = spans.find((span) => span.name === "l3.provider")!
      assert.ok(provider.end <= releasedAt, "the provider's span ends with its headers, before the stream's end")
      assert.ok(
        root.end >= releasedAt,
        `the request's span covers the stream: it ended ${releasedAt - root.end} ns early`
      )
      assert.equal(root.attributes["isartor.final_layer"], "L3_Cloud")
    } finally {
      await streaming.close()
      slow.close()
    }
  })

  it("starts a new trace without a traceparent, and still names it", async () => {
    const response = await chat(gateway, "A request with no caller trace")
    const traceId = response.headers.get("x-isartor-trace-id")
    assert.match(traceId ?? "", /^[0-9a-f]{32}$/)
    const root = await waitFor(
      "its root span",
      () => receiver.spans.find((span) => span.traceId === traceId && span.name === "gateway.request")
    )
    assert.equal(root.parentSpanId, "")
  })

  it("with the collector down, requests still succeed and the drops are counted and warned about", async () => {
    await receiver.stop()
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, index) => chat(gateway, `collector down ${index % 20}`).then((r) => r.status))
    )
    assert.deepEqual([...new Set(statuses)], [200])
    const dropped = await waitFor("the drop counter moves", async () => {
      const scrape = await (await fetch(`${gateway.url}/metrics`, { headers: { "x-api-key": GATEWAY_KEY } })).text()
      const value = Number(/^isartor_otel_dropped_total (\S+)$/m.exec(scrape)?.[1] ?? 0)
      return value > 0 ? value : undefined
    })
    assert.ok(dropped > 0)
    const warnings = gateway.lines.filter((line) => line.includes("OTLP export to"))
    assert.ok(warnings.length >= 1, "a warning says the export fails")
    assert.ok(warnings.length <= 2, `rate-limited, not one line per failed export: ${warnings.length}`)
  })
})

describe("the troubleshooting guide's words, read back from the collector", () => {
  let receiver: OtlpReceiver
  before(async () => {
    receiver = await startGrpcReceiver()
  })
  after(() => receiver.stop())

  /** A traced gateway whose L2 sidecar is a loopback port nothing listens on. */
  const withUnreachableSidecar = async (env: Record<string, string>, run: (gateway: Running) => Promise<void>) => {
    const gateway = await startMonitored(upstreamEnv(upstream.url, {
      ISARTOR__ENABLE_MONITORING: "true",
      ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
      ISARTOR__ENABLE_SLM_ROUTER: "true",
      ISARTOR__LAYER2__SIDECAR_URL: `http://127.0.0.1:${await freePort()}`,
      ...env
    }))
    try {
      await run(gateway)
    } finally {
      await gateway.close()
    }
  }
  const spansOf = (traceId: string | null, names: ReadonlyArray<string>) =>
    waitFor(`${names.join(", ")} of trace ${traceId}`, () => {
      const ofTrace = receiver.spans.filter((span) => span.traceId === traceId)
      return names.every((name) => ofTrace.some((span) => span.name === name)) ? ofTrace : undefined
    })
  const sidecarLine = "Layer 2: Failed to connect to SLM sidecar — falling through"

  it("SLM sidecar unreachable: the guide's line, router.decision on l2.route, cosine_similarity on l1b.lookup", async () => {
    await withUnreachableSidecar({ ISARTOR__LAYER2__CLASSIFIER: "embedding" }, async (gateway) => {
      const response = await chat(gateway, "Generate a tsconfig.json for a Node 20 library")
      assert.equal(response.status, 200)
      assert.equal(response.headers.get("x-isartor-layer"), "l3", "the request still answered, by L3")
      const spans = await spansOf(response.headers.get("x-isartor-trace-id"), ["l1b.lookup", "l2.route"])
      const route = spans.find((span) => span.name === "l2.route")!.attributes
      assert.equal(route["router.decision"], "TEMPLATE")
      assert.equal(route["isartor.router.decision"], "TEMPLATE")
      const lookup = spans.find((span) => span.name === "l1b.lookup")!.attributes
      assert.equal(typeof lookup["cosine_similarity"], "number")
      assert.ok(
        gateway.lines.some((line) => line.startsWith("isartor: warning: ") && line.includes(sidecarLine)),
        gateway.lines.join("\n")
      )
      // The same line at the collector, as a warning in the request's trace.
      const record = await waitFor(
        "the sidecar line's log record",
        () => receiver.logs.find((log) => log.body.startsWith(sidecarLine))
      )
      assert.ok(gateway.lines.includes(`isartor: warning: ${record.body}`), "the body is the line as printed")
      assert.equal(record.severityText, "WARN")
      assert.equal(record.severityNumber, 13, "SEVERITY_NUMBER_WARN")
      assert.equal(record.traceId, response.headers.get("x-isartor-trace-id"))
      assert.ok(spans.some((span) => span.spanId === record.spanId), "written inside one of the request's spans")

      // A paraphrase served by L1b: the score an operator compares with the threshold is on its span.
      assert.equal((await chat(gateway, "How do I reset my router?")).headers.get("x-isartor-layer"), "l3")
      const hit = await chat(gateway, "How can I reset my router?")
      assert.equal(hit.headers.get("x-isartor-layer"), "l1b")
      const hitSpans = await spansOf(hit.headers.get("x-isartor-trace-id"), ["l1b.lookup"])
      const similarity = hitSpans.find((span) => span.name === "l1b.lookup")!.attributes["cosine_similarity"]
      assert.ok(typeof similarity === "number" && similarity >= 0.85 && similarity <= 1, `cosine ${similarity}`)
    })
  })

  it("with the sidecar down, the small-model classifier's requests are COMPLEX, as the guide says", async () => {
    const service = "isartor-warnings-only"
    await withUnreachableSidecar({ ISARTOR__LOG_LEVEL: "warn", OTEL_SERVICE_NAME: service }, async (gateway) => {
      const response = await chat(gateway, "Write a .gitignore for a Node project")
      assert.equal(response.headers.get("x-isartor-layer"), "l3")
      const spans = await spansOf(response.headers.get("x-isartor-trace-id"), ["l2.route"])
      assert.equal(spans.find((span) => span.name === "l2.route")!.attributes["router.decision"], "COMPLEX")
      assert.ok(gateway.lines.some((line) => line.includes(sidecarLine)), gateway.lines.join("\n"))
    })
    // Closed, so flushed: at log_level = warn, the collector has the warning and none of the lines not printed.
    const ofService = receiver.logs.filter((log) => log.resource["service.name"] === service)
    assert.ok(ofService.some((log) => log.body.startsWith(sidecarLine)), "the warning")
    assert.deepEqual(ofService.filter((log) => log.severityText === "INFO").map((log) => log.body), [])
  })
})

describe("OTLP over http/protobuf", () => {
  let receiver: OtlpReceiver
  let gateway: Running
  before(async () => {
    receiver = await startHttpReceiver()
    gateway = await startMonitored(upstreamEnv(upstream.url, {
      ISARTOR__ENABLE_MONITORING: "true",
      ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
      ISARTOR__OTEL_EXPORTER_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_HEADERS: "x-collector-token=let%20me%20in",
      OTEL_METRIC_EXPORT_INTERVAL: "500"
    }))
  })
  after(async () => {
    await gateway.close()
    await receiver.stop()
  })

  it("sends spans, metrics and log lines to /v1/traces, /v1/metrics and /v1/logs with OTEL_EXPORTER_OTLP_HEADERS", async () => {
    const response = await chat(gateway, "Sent over http/protobuf")
    const traceId = response.headers.get("x-isartor-trace-id")
    await waitFor(
      "the spans",
      () => receiver.spans.find((span) => span.traceId === traceId && span.name === "l3.provider")
    )
    const record = await waitFor(
      "the start-up line's log record",
      () => receiver.logs.find((log) => log.body.startsWith("OpenTelemetry export on: "))
    )
    assert.ok(gateway.lines.includes(`isartor: ${record.body}`), "the body is the line as printed")
    await waitFor("the metrics", () => receiver.metricNames.has("isartor_requests_total") || undefined)
    assert.ok(receiver.metricNames.has("isartor_layer_duration_seconds"))
    assert.ok(receiver.headers.some((headers) => headers["x-collector-token"] === "let me in"))
  })
})
