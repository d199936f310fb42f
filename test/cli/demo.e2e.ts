import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { run, userEnv } from "./run.ts"

interface LayerRow {
  readonly requests: number
  readonly p50_ms: number | null
  readonly p99_ms: number | null
}
interface Workload {
  readonly workload: string
  readonly requests: number
  readonly errors: number
  readonly deflection: number
  readonly provider_calls: number
  readonly layers: Record<"l1a" | "l1b" | "l2" | "l3", LayerRow>
}

describe("isartor demo", () => {
  it("replays both shipped workloads without a key or network: every request answered, deflection as the layers add up", async () => {
    // Variables of a real setup must not leak into the demo: it runs on its own fake provider.
    const user = userEnv({ ISARTOR__EXTERNAL_LLM_URL: "http://127.0.0.1:9/unreachable", ISARTOR__CACHE_MODE: "exact" })
    try {
      const result = await run(["demo", "--json", "--limit", "150"], user.env)
      assert.equal(result.code, 0, result.stderr)
      const report = JSON.parse(result.stdout) as { l1b_error_budget: number; workloads: Array<Workload> }
      // The demo shows every layer's deflection, so it says it turned the false-hit budget off.
      assert.equal(report.l1b_error_budget, 1)
      assert.deepEqual(report.workloads.map((workload) => workload.workload), [
        "isartor-faq_loop.jsonl",
        "isartor-diverse_tasks.jsonl"
      ])
      for (const workload of report.workloads) {
        assert.equal(workload.requests, 150)
        assert.equal(workload.errors, 0)
        const { l1a, l1b, l2, l3 } = workload.layers
        assert.equal(l1a.requests + l1b.requests + l2.requests + l3.requests, 150)
        assert.equal(workload.deflection, (l1a.requests + l1b.requests + l2.requests) / 150)
        // Concurrent identical misses share one provider call.
        assert.ok(workload.provider_calls <= l3.requests && workload.provider_calls > 0)
        if (l3.requests > 0) assert.ok(l3.p50_ms! <= l3.p99_ms!)
      }
      // The FAQ loop's paraphrases are answered by the semantic cache (its embedding model runs in the demo).
      assert.ok(report.workloads[0]!.layers.l1b.requests > 0, JSON.stringify(report.workloads[0]))
    } finally {
      user.cleanup()
    }
  })
})
