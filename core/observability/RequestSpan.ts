import type { Tracer } from "effect"

/**
 * Opens the request's `gateway.request` span, on demand: the pipeline asks for it once a request has missed L1a,
 * so exact hits — the bulk of a deflecting gateway's traffic — carry no span at all (with spans they lost 70 % of
 * their throughput, `npm run bench:monitoring`). `l1aStartedAt` (ns) back-dates the `l1a.lookup` child it adds.
 * It travels on the request itself (`ChatRequest.trace`): providing it as an Effect service cost every exact hit
 * 15–18 % of its throughput with tracing on.
 */
export interface RequestSpan {
  readonly open: (l1aStartedAt: bigint) => Tracer.Span | undefined
}

export const nowNanos = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000_000))
