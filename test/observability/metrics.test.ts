import { Context, Metric } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { boundSeries, seriesHooks } from "../../core/observability/Metrics.ts"

// Series updated on every request are bound once: the update goes to the series' own hooks in the gateway's
// registry, found by effect's key. What is counted must be what the metric itself reports.

const gatewayContext = () => {
  const registry: Metric.MetricRegistry = new Map()
  return { registry, context: Context.make(Metric.MetricRegistry, registry) as Context.Context<never> }
}
const labelled = (context: Context.Context<never>, labels: Record<string, string>) =>
  Context.add(context, Metric.CurrentMetricAttributes, labels)

describe("bound series", () => {
  it("count into the series the metric reports, one per label set, and find it by key", () => {
    const { context, registry } = gatewayContext()
    const counter = Metric.counter("test_requests_total", { description: "requests", attributes: { unit: "x" } })
    const histogram = Metric.histogram("test_seconds", { boundaries: [0.1, 1] })
    const hits = boundSeries(counter, { route: "/a", status: "200" }, context)
    const errors = boundSeries(counter, { route: "/a", status: "500" }, context)
    const durations = boundSeries(histogram, { route: "/a" }, context)
    hits(2)
    hits(3)
    errors(1)
    durations(0.05)
    durations(0.5)
    const read = (labels: Record<string, string>) => counter.valueUnsafe(labelled(context, labels)).count
    assert.equal(read({ route: "/a", status: "200" }), 5)
    assert.equal(read({ route: "/a", status: "500" }), 1)
    assert.equal(histogram.valueUnsafe(labelled(context, { route: "/a" })).count, 2)
    // The bound updates went straight to the registry's hooks (an effect upgrade that files series under another key
    // would leave them on the slower path through the metric: this says so).
    assert.ok(seriesHooks(registry, counter, { route: "/a", status: "200" }))
    assert.ok(seriesHooks(registry, histogram, { route: "/a" }))
    assert.equal(seriesHooks(registry, counter, { route: "/b", status: "200" }), undefined)
  })
})
