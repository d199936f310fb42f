// The troubleshooting guide's words, searched for where operators search: on each runtime's own server, exporting to
// a real OTLP receiver, an unreachable SLM sidecar is the guide's log line in the collector, in the request's trace;
// the routing decision and L1b's score are the span attributes the guide names; an exact hit has its span.
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startGrpcReceiver,
  startHttpReceiver
} from "../observability/otlpReceiver.ts"
import { freePort } from "../observability/prometheus.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../support/processes.ts"

const SIDECAR_LINE = "Layer 2: Failed to connect to SLM sidecar — falling through"
const GATEWAY_KEY = "gw-guide-words-0123456789"

/** Both protocols, spread over the runtimes. */
const runs: ReadonlyArray<readonly [RuntimeName, "grpc" | "http/protobuf"]> = [
  ["node", "grpc"],
  ["bun", "grpc"],
  ["deno", "http/protobuf"]
]

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

/** Polls until `probe` finds something; the cap is generous, a pass takes as long as one export batch. */
const waitFor = <A>(what: string, probe: () => A | undefined) =>
  eventually(probe, { what, timeoutMs: 30_000, intervalMs: 100 })

const noBigints = (value: unknown) =>
  JSON.stringify(value, (_key, part) => (typeof part === "bigint" ? String(part) : part))

for (const [runtime, protocol] of runs) {
  describe(`the guide's words at the collector: ${runtime}, OTLP over ${protocol}`, () => {
    let receiver: OtlpReceiver
    let gateway: StartedProcess
    before(async () => {
      receiver = protocol === "grpc" ? await startGrpcReceiver() : await startHttpReceiver()
      gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__EXTERNAL_LLM_URL: upstream.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
        ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY,
        ISARTOR__CACHE_MODE: "both",
        ISARTOR__ENABLE_MONITORING: "true",
        ISARTOR__OTEL_EXPORTER_ENDPOINT: receiver.url,
        ISARTOR__OTEL_EXPORTER_PROTOCOL: protocol,
        ISARTOR__ENABLE_SLM_ROUTER: "true",
        // A loopback port nothing listens on.
        ISARTOR__LAYER2__SIDECAR_URL: `http://127.0.0.1:${await freePort()}`,
        OTEL_SERVICE_NAME: `isartor-guide-${runtime}`
      })
    })
    after(async () => {
      gateway?.stop()
      await receiver?.stop()
    })

    const chat = async (content: string) => {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${GATEWAY_KEY}` },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
      })
      assert.equal(response.status, 200, await response.clone().text())
      await response.arrayBuffer()
      const traceId = response.headers.get("x-isartor-trace-id")
      assert.match(traceId ?? "", /^[0-9a-f]{32}$/)
      return { layer: response.headers.get("x-isartor-layer"), traceId: traceId! }
    }
    const spansOf = (traceId: string, names: ReadonlyArray<string>) =>
      waitFor(`${names.join(", ")} of trace ${traceId}`, () => {
        const ofTrace = receiver.spans.filter((span) => span.traceId === traceId)
        return names.every((name) => ofTrace.some((span) => span.name === name)) ? ofTrace : undefined
      })
    const named = (spans: ReadonlyArray<ReceivedSpan>, name: string) => spans.find((span) => span.name === name)!

    it("a miss with the sidecar down: the guide's log line in the request's trace, router.decision, cosine_similarity", async () => {
      const question = `Write a .gitignore for a ${runtime} project`
      const miss = await chat(question)
      assert.equal(miss.layer, "l3", "the request still answered, by L3")

      const record = await waitFor(
        "the sidecar line's log record",
        () => receiver.logs.find((log) => log.body.startsWith(SIDECAR_LINE))
      )
      assert.equal(record.severityText, "WARN")
      assert.equal(record.resource["service.name"], `isartor-guide-${runtime}`)
      assert.ok(
        gateway.output().includes(`isartor: warning: ${record.body}\n`),
        "the record's body is the line printed"
      )
      assert.equal(record.traceId, miss.traceId, "written in the request's trace")

      const spans = await spansOf(miss.traceId, ["gateway.request", "l1b.lookup", "l2.route"])
      assert.ok(spans.some((span) => span.spanId === record.spanId), "inside one of the request's spans")
      assert.equal(
        named(spans, "l2.route").attributes["router.decision"],
        "COMPLEX",
        "the guide: sidecar down → COMPLEX"
      )
      const similarity = named(spans, "l1b.lookup").attributes["cosine_similarity"]
      assert.equal(typeof similarity, "number")

      // Asked again, the same bytes: an exact hit, spanned.
      const hit = await chat(question)
      assert.equal(hit.layer, "l1a")
      const hitSpans = await spansOf(hit.traceId, ["gateway.request", "l1a.lookup"])
      assert.equal(named(hitSpans, "gateway.request").attributes["isartor.final_layer"], "L1a_ExactCache")
      assert.equal(named(hitSpans, "l1a.lookup").attributes["isartor.l1a.result"], "hit")
      assert.deepEqual(hitSpans.map((span) => span.name).sort(), ["gateway.request", "l1a.lookup"], "nothing past L1a")

      for (const secret of [TEST_PROVIDER_KEY, GATEWAY_KEY]) {
        assert.ok(!noBigints(receiver.logs).includes(secret), "no key in a log record")
        assert.ok(!noBigints(receiver.spans).includes(secret), "no key in a span")
      }
    })
  })
}
