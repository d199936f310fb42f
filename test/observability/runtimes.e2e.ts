import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "../support/processes.ts"
import { type OtlpReceiver, startGrpcReceiver, startHttpReceiver } from "./otlpReceiver.ts"
import { freePort } from "./prometheus.ts"

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

/** Polls until `probe` finds something; the cap is generous, a pass takes as long as one export batch. */
const waitFor = <A>(what: string, probe: () => A | undefined) =>
  eventually(probe, { what, timeoutMs: 30_000, intervalMs: 100 })

// The entrypoints as operators start them (npm run start:node / start:bun / start:deno), each exporting over OTLP
// (both protocols work on all three; the two are spread over them to keep the suite short).
for (const [runtime, protocol] of [["node", "grpc"], ["bun", "http/protobuf"], ["deno", "grpc"]] as const) {
  describe(`${runtime}: /metrics and OTLP over ${protocol}`, () => {
    let receiver: OtlpReceiver
    before(async () => {
      receiver = protocol === "grpc" ? await startGrpcReceiver() : await startHttpReceiver()
    })
    after(() => receiver.stop())

    it("serves /metrics (also on metrics_port) and exports the request's spans", async () => {
      const metricsPort = await freePort()
      const gateway = await startProcess(runtimeCommand(runtime as RuntimeName, `runtimes/${runtime}.ts`), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__EXTERNAL_LLM_URL: upstream.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
        ISARTOR__ENABLE_MONITORING: "true",
        ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
        ISARTOR__OTEL_EXPORTER_PROTOCOL: protocol,
        ISARTOR__METRICS_PORT: String(metricsPort),
        OTEL_SERVICE_NAME: `isartor-${runtime}`
      })
      try {
        assert.match(gateway.output(), /OpenTelemetry export on: traces and metrics over/)
        const response = await fetch(`${gateway.url}/api/chat`, {
          method: "POST",
          body: JSON.stringify({ prompt: `Which runtime answers? ${runtime}` })
        })
        assert.equal(response.status, 200)
        const traceId = response.headers.get("x-isartor-trace-id")
        assert.match(traceId ?? "", /^[0-9a-f]{32}$/)
        const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
        assert.match(scrape, /isartor_requests_total\{final_layer="L3_Cloud",endpoint="\/api\/chat",status="200"\} 1/)
        assert.match(scrape, new RegExp(`isartor_build_info\\{version="[^"]+",runtime="${runtime} `))
        assert.equal((await fetch(`${gateway.url}/metrics`)).status, 404, "moved to metrics_port")
        const root = await waitFor(
          "the request's spans",
          () => receiver.spans.find((span) => span.traceId === traceId && span.name === "gateway.request")
        )
        assert.equal(root.resource["service.name"], `isartor-${runtime}`)
        assert.ok(receiver.spans.some((span) => span.traceId === traceId && span.name === "l3.provider"))
        assert.ok(!gateway.output().includes(TEST_PROVIDER_KEY), "no key in the console")
      } finally {
        gateway.stop()
      }
    })
  })
}
